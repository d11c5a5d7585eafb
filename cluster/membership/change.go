package membership

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/aisgo/aisgo/cluster"
	"github.com/aisgo/aisgo/store"
)

// Snapshot is the control plane's state at one moment. Treat it as
// immutable.
type Snapshot struct {
	Map     *cluster.Map          `json:"map"`
	Buckets *store.BucketMetadata `json:"bmd"`
	// Jobs are the dSort jobs that run, by id: which gateway coordinates
	// each, so that another can end it if that one goes.
	Jobs map[string]Job `json:"jobs,omitempty"`
	// Config is the cluster config; nil means DefaultClusterConfig.
	Config *ClusterConfig `json:"config,omitempty"`
	// Tokens are the revoked user tokens, refused by every node.
	Tokens *RevokedTokens `json:"tokens,omitempty"`
	// S3Keys are the AuthN service's S3 access keys (gateways only).
	S3Keys *S3Keys `json:"s3_keys,omitempty"`
	// Level is the highest ProtocolLevel of the changes that made it: a
	// node of a lower one cannot read it whole.
	Level int `json:"level,omitempty"`
	// Index is the position in the replicated log the snapshot was made
	// at (0: not known): a gateway that forwarded a change waits until it
	// applied the log that far.
	Index uint64 `json:"-"`
}

// Validate checks a snapshot restored from a peer or from disk as the
// saved state is checked when read, and the changes that made it were:
// its map, buckets, jobs and bounds (not the config's values).
func (s Snapshot) Validate() error {
	if s.Level > ProtocolLevel {
		return fmt.Errorf("%w (a snapshot of level %d)", ErrTooNew, s.Level)
	}
	if s.Map != nil {
		if err := s.Map.Validate(); err != nil {
			return err
		}
	}
	if s.Buckets != nil {
		if err := s.Buckets.Validate(); err != nil {
			return err
		}
	}
	// Not the config's values: a newer build's rules may be stricter
	// than those it was set under, and a snapshot refused stops the
	// gateway (Restore logs them instead).
	if err := (ControlState{Tokens: s.Tokens, S3Keys: s.S3Keys}).Validate(); err != nil {
		return err
	}
	for id, j := range s.Jobs {
		if id == "" || id != j.ID {
			return fmt.Errorf("%w: job %q is kept under %q", ErrUnknownChange, j.ID, id)
		}
	}
	return nil
}

// ClusterConfig returns the snapshot's cluster config.
func (s Snapshot) ClusterConfig() ClusterConfig {
	if s.Config == nil {
		return DefaultClusterConfig()
	}
	return s.Config.withDefaults()
}

// Job is a dSort job in the registry.
type Job struct {
	ID          string       `json:"id"`
	Coordinator string       `json:"coordinator"`
	Output      store.Bucket `json:"output"`
	Targets     []string     `json:"targets,omitempty"`
	Started     int64        `json:"started"`
	// Names names its output shards (see pipeline.JobRegistration).
	Names string `json:"names,omitempty"`
	// State is JobRunning until the job ends; Cause says why an aborted
	// job ended.
	State JobState `json:"state,omitempty"`
	Cause string   `json:"cause,omitempty"`
	Ended int64    `json:"ended,omitempty"`
}

// JobState is where a registered job is.
type JobState string

// States of a registered job.
const (
	JobRunning  JobState = "running"
	JobFinished JobState = "finished"
	JobAborted  JobState = "aborted"
)

// MaxEndedJobs bounds the ended jobs the registry keeps (the oldest go
// first): their outcome stays readable, the snapshot stays small.
const MaxEndedJobs = 256

// Errors of the job registry.
var (
	ErrJobUnknown = errors.New("membership: no such job in the registry")
	ErrJobRunning = errors.New("membership: the job has not ended")
	// ErrJobOutputTaken refuses a job whose output shards a running job
	// writes.
	ErrJobOutputTaken = errors.New("membership: a running job writes the same output shards")
)

// Kind names a change.
type Kind string

// Kinds of change. Node changes name the node by Change.Node.ID; Join
// carries the whole node.
const (
	Join        Kind = "join"              // a node joins or rejoins, active
	Leave       Kind = "leave"             // an administrator takes a node out
	Left        Kind = "left"              // a leaving target moved its objects away
	Maintenance Kind = "start-maintenance" // a target stops owning objects
	Activate    Kind = "stop-maintenance"  // a target owns objects again
	Offline     Kind = "offline"           // a target stopped answering
	// Returned: an offline target answers again, and is what it was
	// before (active, in maintenance, or leaving).
	Returned Kind = "returned"
	Remove   Kind = "remove" // a gateway stopped answering

	CreateBucket  Kind = "create-bck"
	DestroyBucket Kind = "destroy-bck"
	SetProps      Kind = "set-bprops"

	// Lead makes Node the primary (the Raft leader): of a new map with
	// UUID when there is none yet, and adds it when it is not in the map.
	Lead Kind = "lead"
	// Seed sets the whole snapshot when there is none yet: a cluster that
	// moves its saved metadata under a replicated log.
	Seed Kind = "seed"

	JobStarted Kind = "job-started"
	JobEnded   Kind = "job-ended"
	JobRemoved Kind = "job-removed" // a user forgets an ended job
	// JobLost records Job.Cause on a running job whose output is being
	// removed (a target lost its part of a finished run): a next leader
	// goes on removing it, and does not record the job finished when the
	// target is back. Of LevelJobLost.
	JobLost Kind = "job-lost"

	// SetConfig decodes Patch over the cluster config; a leader that
	// resolved it sends Config too, the config it makes.
	SetConfig Kind = "set-config"

	// RevokeToken adds Token to the revoked tokens (Created is the time,
	// in Unix seconds, by which expired ones are dropped).
	RevokeToken Kind = "revoke-token"
	// SetS3Keys replaces the S3 access keys with those of S3Keys.
	SetS3Keys Kind = "set-s3-keys"

	// DropVoter asks the leader to take Node out of the log's voters, not
	// out of the map: a gateway whose log was lost asks it before it
	// joins again (as the same voter, with an empty log, it could elect a
	// leader lacking committed entries). The leader acts on it and does
	// not log it (a leader of an older build logs it, and every node
	// refuses it as unknown: harmless).
	DropVoter Kind = "drop-voter"
	// PromoteVoter asks the leader to make Node, a gateway that joined
	// as a nonvoter, a voter: its log has every entry up to LogIndex.
	// The leader acts on it and does not log it (as DropVoter).
	PromoteVoter Kind = "promote-voter"
)

// Change is one change of the snapshot. It carries everything Apply needs
// (a bucket's creation time included), so that applying it is
// deterministic.
type Change struct {
	Kind Kind         `json:"kind"`
	Node cluster.Node `json:"node,omitzero"`
	// Bucket and Props for bucket changes; Patch is the partial props of
	// SetProps, decoded over the current ones.
	Bucket  store.Bucket    `json:"bucket,omitzero"`
	Props   *store.Props    `json:"props,omitempty"`
	Patch   json.RawMessage `json:"patch,omitempty"`
	Created int64           `json:"created,omitempty"`
	// UUID names a new cluster (Lead) or the joiner's (Join), when set.
	UUID string `json:"uuid,omitempty"`
	// Seed is the snapshot of Seed.
	Seed *Snapshot `json:"seed,omitempty"`
	// Job is the job of JobStarted, JobEnded, JobRemoved and JobLost.
	Job Job `json:"job,omitzero"`
	// Token is the token of RevokeToken.
	Token RevokedToken `json:"token,omitzero"`
	// S3Keys are the keys of SetS3Keys.
	S3Keys map[string]S3Credential `json:"s3_keys,omitempty"`
	// Config is the whole config a SetConfig makes, as the leader's rules
	// checked it: installed as is by every node whose config is older (a
	// node of another build, with other rules, makes the same one; one
	// left behind catches up). Nodes of builds before it apply Patch.
	Config *ClusterConfig `json:"config,omitempty"`
	// IfMap, when set, makes DestroyBucket apply only under that map
	// version, and Created (when set) only to the bucket created then:
	// a destroy checked against every target's objects (S3's
	// DeleteBucket) destroys what it checked. So with the keepalive's
	// Offline and Remove: judged on one map, they do not apply to a node
	// that joined again since (a restart during the round).
	IfMap int64 `json:"if_map,omitempty"`
	// IfProps, when set, makes SetProps apply only to the props it was
	// asked against (their PropsDigest): the gateway that checked the
	// change against the cluster, and chose the jobs it calls for, judged
	// the props it applies to. A change with it is of LevelPropsIf.
	IfProps string `json:"if_props,omitempty"`
	// LogIndex is how far PromoteVoter's gateway has the log.
	LogIndex uint64 `json:"log_index,omitempty"`
	// Auth is a Join's node's user authentication: "off", or the
	// fingerprint of the keys it checks tokens with (empty: a node of a
	// build before it). The gateway it asks refuses one unlike its own.
	Auth string `json:"auth,omitempty"`
	// Level is the ProtocolLevel a node needs to apply the change: above
	// the first one for a change kind, or a rule, newer than it.
	Level int `json:"level,omitempty"`
}

// ProtocolLevel is the highest level of change this build applies. A
// change of a higher one comes from a newer gateway's leader: applied by
// the older rules (or refused), the state would differ from the other
// nodes', so a node stops following the log instead (ErrTooNew).
const ProtocolLevel = LevelKeepAway

// LevelRevokeKeys is the level of a RevokeToken that takes the S3 keys
// made with the token (RevokedToken.KeysUntil): a node before it would
// drop them, and take the keys.
const LevelRevokeKeys = 2

// LevelPropsIf is the level of a SetProps with IfProps: a node before it
// would apply it to other props.
const LevelPropsIf = 3

// LevelJobLost is the level of JobLost: a node before it does not know
// the kind.
const LevelJobLost = 4

// LevelJobNames is the level of a JobStarted refused while a running job
// has its output (Job.Names in the same bucket): a node before it would
// register it.
const LevelJobNames = 5

// LevelKeepAway is the level of a JobEnded whose pruning of the oldest
// ended jobs keeps an aborted one while a target of it is offline: back,
// that target asks the registry how the job ended, and removes the
// shards it wrote only when it says aborted (pruned, they would stay for
// good). A node before it would prune it.
const LevelKeepAway = 6

// Errors of Apply.
var (
	ErrNotLeaving     = errors.New("membership: the node is not leaving")
	ErrLeavingAlready = errors.New("membership: the node is leaving already")
	ErrPrimaryLeaves  = errors.New("membership: the primary gateway cannot leave or change itself")
	ErrUnknownChange  = errors.New("membership: unknown change")
	ErrForeign        = errors.New("membership: the node belongs to another cluster")
	ErrSeeded         = errors.New("membership: the snapshot is already set")
	ErrRoleChange     = errors.New("membership: a node cannot change its role")
	ErrMapChanged     = errors.New("membership: the cluster map or the bucket changed since the change was asked")
	ErrNoMap          = errors.New("membership: the cluster has no map yet (no gateway has led it)")
	ErrRemoved        = errors.New("membership: this node was removed from the cluster")
	ErrTooManyBuckets = fmt.Errorf("membership: a cluster has at most %d buckets", MaxBuckets)
	ErrLastTarget     = errors.New("membership: the only active target cannot go into maintenance or leave")
	ErrLeaderBehind   = fmt.Errorf("membership: the change needs a newer protocol level than the leader's %d: retry once an upgraded gateway leads", ProtocolLevel)
	ErrTooNew         = fmt.Errorf("membership: the cluster's log holds a change of a newer protocol level than this node's %d: upgrade it", ProtocolLevel)
)

// Apply returns the snapshot after a change. It is pure: it reads nothing
// but its arguments and never changes s.
func Apply(s Snapshot, c Change) (Snapshot, error) {
	if c.Level > ProtocolLevel {
		return s, fmt.Errorf("%w (%s of level %d)", ErrTooNew, c.Kind, c.Level)
	}
	next, err := apply(s, c)
	if err == nil && c.Level > next.Level {
		next.Level = c.Level
	}
	return next, err
}

func apply(s Snapshot, c Change) (Snapshot, error) {
	switch c.Kind {
	case Join, Leave, Left, Maintenance, Activate, Offline, Remove, Returned:
		if s.Map == nil {
			// Committed before the first Lead (a change forwarded to a
			// new leader): refused, not a panic on every replay.
			return s, fmt.Errorf("%w: %s %s", ErrNoMap, c.Kind, c.Node.ID)
		}
		if (c.Kind == Offline || c.Kind == Remove) && c.IfMap != 0 && s.Map.Version != c.IfMap {
			return s, fmt.Errorf("%w: %s %s was judged on map version %d, now %d", ErrMapChanged, c.Kind, c.Node.ID, c.IfMap, s.Map.Version)
		}
		m, err := applyNode(s.Map, c)
		if err != nil {
			return s, err
		}
		next := s
		next.Map = m
		return next, nil
	case CreateBucket, DestroyBucket, SetProps:
		if s.Buckets == nil {
			return s, fmt.Errorf("%w: %s %s", ErrNoMap, c.Kind, c.Bucket)
		}
		if c.Kind == DestroyBucket && c.IfMap != 0 && (s.Map == nil || s.Map.Version != c.IfMap) {
			return s, fmt.Errorf("%w: destroy bucket %s was asked under map version %d", ErrMapChanged, c.Bucket, c.IfMap)
		}
		md, err := applyBucket(*s.Buckets, c)
		if err != nil {
			return s, err
		}
		next := s
		next.Buckets = &md
		return next, nil
	case Lead:
		return applyLead(s, c)
	case Seed:
		if s.Map != nil && len(s.Map.Nodes) > 0 || c.Seed == nil || c.Seed.Map == nil || c.Seed.Buckets == nil {
			return s, ErrSeeded
		}
		if err := c.Seed.Map.Validate(); err != nil {
			return s, err
		}
		if err := c.Seed.Buckets.Validate(); err != nil {
			return s, err
		}
		// Not the config's values (checked where the seed was read):
		// a log replays as written, under a build of other rules too.
		if err := (ControlState{Tokens: c.Seed.Tokens, S3Keys: c.Seed.S3Keys}).Validate(); err != nil {
			return s, err
		}
		rest := ControlState{Config: c.Seed.Config, Tokens: c.Seed.Tokens, S3Keys: c.Seed.S3Keys}
		md := c.Seed.Buckets.Clone()
		next := s
		next.Map, next.Buckets = c.Seed.Map.Clone(), &md
		next.Config, next.Tokens, next.S3Keys = cloneControl(rest)
		return next, nil
	case JobStarted, JobEnded, JobRemoved, JobLost:
		jobs, err := applyJob(s.Jobs, s.Map, c)
		if err != nil {
			return s, err
		}
		next := s
		next.Jobs = jobs
		return next, nil
	case SetConfig:
		// Past the current version: the next one (a node of another
		// build makes the same), or further on for a node whose config
		// fell behind (its build refused a change), which catches up.
		if c.Config != nil && c.Config.Version > configVersion(s.Config) {
			config := *c.Config
			next := s
			next.Config = &config
			return next, nil
		}
		// Resolved against a config changed since (a change committed
		// between), or by a leader of an older build: the patch again.
		config, err := applyConfig(s.Config, c.Patch)
		if err != nil {
			return s, err
		}
		next := s
		next.Config = config
		return next, nil
	case RevokeToken:
		tokens, err := applyRevoke(s.Tokens, c)
		if err != nil {
			return s, err
		}
		next := s
		next.Tokens = tokens
		return next, nil
	case SetS3Keys:
		keys, err := applyS3Keys(s.S3Keys, c)
		if err != nil {
			return s, err
		}
		next := s
		next.S3Keys = keys
		return next, nil
	}
	return s, fmt.Errorf("%w: %q", ErrUnknownChange, c.Kind)
}

// applyJob registers a job, records its output lost, or records how it
// ended; an end is recorded once (the first wins), and only the newest
// MaxEndedJobs ended jobs stay (and, at LevelKeepAway, the aborted ones of
// a target offline in m, as many again at most).
func applyJob(current map[string]Job, m *cluster.Map, c Change) (map[string]Job, error) {
	if c.Job.ID == "" {
		return nil, fmt.Errorf("%w: %s without a job id", ErrUnknownChange, c.Kind)
	}
	jobs := maps.Clone(current)
	if jobs == nil {
		jobs = map[string]Job{}
	}
	if c.Kind == JobStarted {
		j := c.Job
		if c.Level >= LevelJobNames && j.Names != "" {
			// Checked in the log's order: two starts sent at once, or
			// through two gateways, cannot both pass.
			for id, other := range current {
				if id != j.ID && other.State == JobRunning && other.Names == j.Names && other.Output.Normalize() == j.Output.Normalize() {
					return nil, fmt.Errorf("%w: job %s runs, writing them into %s", ErrJobOutputTaken, id, j.Output)
				}
			}
		}
		j.State, j.Cause, j.Ended = JobRunning, "", 0
		jobs[j.ID] = j
		return jobs, nil
	}
	j, ok := jobs[c.Job.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrJobUnknown, c.Job.ID)
	}
	if c.Kind == JobRemoved {
		if j.State == JobRunning {
			return nil, fmt.Errorf("%w: job %s runs", ErrJobRunning, j.ID)
		}
		delete(jobs, j.ID)
		return jobs, nil
	}
	if j.State != JobRunning {
		return current, nil
	}
	if c.Kind == JobLost {
		if c.Job.Cause == "" || c.Level < LevelJobLost {
			return nil, fmt.Errorf("%w: %s of job %s needs a cause and level %d", ErrUnknownChange, c.Kind, j.ID, LevelJobLost)
		}
		j.Cause = c.Job.Cause
		jobs[j.ID] = j
		return jobs, nil
	}
	if c.Job.State != JobFinished && c.Job.State != JobAborted {
		return nil, fmt.Errorf("%w: job %s cannot end as %q", ErrUnknownChange, j.ID, c.Job.State)
	}
	if j.Cause != "" {
		// Counted lost (JobLost): its output is removed, whoever records
		// the end (a coordinator back that saw every target finish).
		j.State, j.Cause, j.Ended = JobAborted, cmp.Or(c.Job.Cause, j.Cause), c.Job.Ended
	} else {
		j.State, j.Cause, j.Ended = c.Job.State, c.Job.Cause, c.Job.Ended
	}
	jobs[j.ID] = j
	var ended []Job
	for _, e := range jobs {
		if e.State != JobRunning {
			ended = append(ended, e)
		}
	}
	if len(ended) > MaxEndedJobs {
		slices.SortFunc(ended, func(a, b Job) int {
			return cmp.Or(cmp.Compare(a.Ended, b.Ended), strings.Compare(a.ID, b.ID))
		})
		held := 0 // bounded: as many again at most
		for _, e := range ended[:len(ended)-MaxEndedJobs] {
			if c.Level >= LevelKeepAway && held < MaxEndedJobs && e.State == JobAborted && targetOffline(m, e.Targets) {
				held++
				continue
			}
			delete(jobs, e.ID)
		}
	}
	return jobs, nil
}

// KeepsAway tells whether a JobEnded applied to s needs LevelKeepAway to
// give what it gives: an ended job is aborted with a target offline (at
// a lower level, the pruning may take it). Otherwise a JobEnded stays of
// the older level, which gateways of an older build follow.
func KeepsAway(s Snapshot) bool {
	for _, j := range s.Jobs {
		if j.State == JobAborted && targetOffline(s.Map, j.Targets) {
			return true
		}
	}
	return false
}

// targetOffline tells whether one of the targets is offline in the map.
func targetOffline(m *cluster.Map, targets []string) bool {
	for _, id := range targets {
		if t, ok := m.Node(id); ok && t.State == cluster.StateOffline {
			return true
		}
	}
	return false
}

// applyLead makes a gateway the primary, creating the map of a new
// cluster.
func applyLead(s Snapshot, c Change) (Snapshot, error) {
	n := c.Node
	n.State = cluster.StateActive
	if err := n.Validate(); err != nil {
		return s, err
	}
	if !n.Role.IsGateway() {
		return s, fmt.Errorf("%w: %s is a %s, not a gateway", cluster.ErrInvalidNode, n.ID, n.Role)
	}
	m := s.Map
	if m == nil || len(m.Nodes) == 0 {
		m = &cluster.Map{UUID: c.UUID, Created: c.Created}
	}
	switch old, ok := m.Node(n.ID); {
	case !ok:
		var err error
		if m, err = m.WithNode(n); err != nil {
			return s, err
		}
	case old.State == cluster.StateOffline:
		// A node that is also a target, taken offline before it led: it
		// answers, and is back as what it was (the keepalive, which
		// would see to that, never looks at the primary).
		state := cluster.StateActive
		switch {
		case old.Leaving:
			state = cluster.StateLeaving
		case old.Maintained:
			state = cluster.StateMaintenance
		}
		var err error
		if m, err = m.WithState(n.ID, state); err != nil {
			return s, err
		}
	default:
		m = m.Clone()
		m.Version++
	}
	m.Primary = n.ID
	buckets := s.Buckets
	if buckets == nil {
		md := store.NewBucketMetadata()
		buckets = &md
	}
	next := s
	next.Map, next.Buckets = m, buckets
	return next, nil
}

func applyNode(m *cluster.Map, c Change) (*cluster.Map, error) {
	id := c.Node.ID
	if c.Kind == Join && c.UUID != "" && m.UUID != "" && c.UUID != m.UUID {
		return nil, fmt.Errorf("%w: %s is of cluster %s, this is %s", ErrForeign, id, c.UUID, m.UUID)
	}
	if c.Kind == Join {
		n := c.Node
		n.State = cluster.StateActive
		if old, ok := m.Node(n.ID); ok && old.StillLeaving() && n.Role.IsTarget() {
			// A decommission goes on across a restart, or a time offline.
			n.State = cluster.StateLeaving
		}
		// A restart ends maintenance (a rolling upgrade's target comes
		// back active); a time offline does not (see Returned).
		n.Leaving, n.Maintained = false, false
		if err := n.Validate(); err != nil {
			return nil, err
		}
		// A node rejoins as what it is: a join must not turn a gateway
		// into a target (the primary least of all), nor the reverse.
		if old, ok := m.Node(n.ID); ok && old.Role != n.Role {
			return nil, fmt.Errorf("%w: %s is a %s, and joins as one, not as a %s", ErrRoleChange, n.ID, old.Role, n.Role)
		}
		// One address, one node: another id at a member's URL (a node
		// that lost its data directory) would take the member's pushes,
		// keep it from going offline, and bounce its objects' requests
		// between them.
		for _, other := range m.Nodes {
			// (The same address spelled otherwise is refused before, by
			// Admissible: this is replayed from logs as written.)
			if other.ID != n.ID && strings.EqualFold(strings.TrimRight(other.URL, "/"), strings.TrimRight(n.URL, "/")) {
				return nil, fmt.Errorf("%w: %s joins at %s, which is node %s's (%s): remove %s from the cluster first if it is gone for good",
					cluster.ErrDuplicateNode, n.ID, n.URL, other.ID, other.State, other.ID)
			}
		}
		return m.WithNode(n)
	}
	node, ok := m.Node(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", cluster.ErrNodeNotFound, id)
	}
	if id == m.Primary {
		return nil, fmt.Errorf("%w: %s %s", ErrPrimaryLeaves, c.Kind, id)
	}
	switch c.Kind {
	case Maintenance:
		if node.State == cluster.StateOffline {
			// Into maintenance once back: a node that does not answer
			// is not made a member of any placement meanwhile.
			return m.WithMarks(id, true, false)
		}
		return m.WithState(id, cluster.StateMaintenance)
	case Returned:
		if node.State != cluster.StateOffline {
			return m, nil // back already (a rejoin)
		}
		switch {
		case node.Leaving:
			return m.WithState(id, cluster.StateLeaving)
		case node.Maintained:
			return m.WithState(id, cluster.StateMaintenance)
		}
		return m.WithState(id, cluster.StateActive)
	case Activate:
		if node.State == cluster.StateOffline {
			// Its maintenance or decommission ends; it is active once
			// back (Returned), not before: an owner that does not
			// answer would fail its share of PUTs and start rebalances.
			return m.WithMarks(id, false, false)
		}
		return m.WithState(id, cluster.StateActive)
	case Offline:
		if !node.Role.IsTarget() {
			return m.WithoutNode(id)
		}
		return m.WithState(id, cluster.StateOffline)
	case Leave:
		// A target leaves once its objects moved (see Left); an offline
		// one cannot move them and is removed, what only it held given up.
		if node.Role.IsTarget() && node.State == cluster.StateLeaving {
			// Asked again (a retry, a change forwarded twice): it must not
			// go before its objects moved.
			return nil, fmt.Errorf("%w: %s is leaving already: it leaves once its objects moved (stopped, it goes offline, and leave then removes it)", ErrLeavingAlready, id)
		}
		if node.Role.IsTarget() && node.State != cluster.StateOffline {
			return m.WithState(id, cluster.StateLeaving)
		}
	case Left:
		if node.State != cluster.StateLeaving {
			return nil, fmt.Errorf("%w: %s is %s", ErrNotLeaving, id, node.State)
		}
	}
	return m.WithoutNode(id)
}

// Admissible refuses, before it is applied, a change the cluster would
// not come back from by itself: the maintenance or the leave of its only
// active target (no owner left, every object unreachable and the leave
// never done); a join at a member's address spelled otherwise (localhost
// for 127.0.0.1, a default port written); and bucket props that fail
// this build's rules (store.Props.Validate). Apply does not check it, so
// that a log replays as written.
func Admissible(s Snapshot, c Change) error {
	// (Not a member rejoining at the address it was admitted with: one
	// an older build let another id share, spelled otherwise, would keep
	// it from starting.)
	if old, member := s.Map.Node(c.Node.ID); c.Kind == Join && s.Map != nil && !(member && strings.EqualFold(strings.TrimRight(old.URL, "/"), strings.TrimRight(c.Node.URL, "/"))) {
		for _, other := range s.Map.Nodes {
			if other.ID != c.Node.ID && sameAddress(other.URL, c.Node.URL) {
				return fmt.Errorf("%w: %s joins at %s, which is node %s's (%s): remove %s from the cluster first if it is gone for good",
					cluster.ErrDuplicateNode, c.Node.ID, c.Node.URL, other.ID, other.State, other.ID)
			}
		}
	}
	if (c.Kind == CreateBucket || c.Kind == SetProps) && s.Buckets != nil {
		b, props, err := bucketChange(*s.Buckets, c)
		if err != nil {
			return nil // Apply refuses it, with the same error
		}
		if err := props.Validate(); err != nil {
			if c.Kind == CreateBucket {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
			return fmt.Errorf("set props of %s: %w", b, err)
		}
		return nil
	}
	if (c.Kind != Maintenance && c.Kind != Leave) || s.Map == nil {
		return nil
	}
	node, ok := s.Map.Node(c.Node.ID)
	if !ok || !node.Role.IsTarget() || node.State != cluster.StateActive {
		return nil
	}
	for _, t := range s.Map.ActiveTargets() {
		if t.ID != node.ID {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is the cluster's only active target; join another target first", ErrLastTarget, node.ID)
}

// sameAddress reports whether two node URLs name one listener: the same
// scheme, port (a default one written or not) and host, localhost being
// either loopback address (127.0.0.1 and ::1 are two listeners).
func sameAddress(a, b string) bool {
	ua, errA := url.Parse(strings.TrimRight(a, "/"))
	ub, errB := url.Parse(strings.TrimRight(b, "/"))
	if errA != nil || errB != nil || !strings.EqualFold(ua.Scheme, ub.Scheme) {
		return false
	}
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return strings.TrimLeft(p, "0")
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	if port(ua) != port(ub) {
		return false
	}
	ha, hb := strings.ToLower(ua.Hostname()), strings.ToLower(ub.Hostname())
	loopback := func(h string) bool { return h == "127.0.0.1" || h == "::1" }
	return ha == hb || ha == "localhost" && loopback(hb) || hb == "localhost" && loopback(ha)
}

// MaxBuckets bounds the buckets (ais:// and remote) of a cluster: the
// metadata, a few hundred bytes a bucket, is pushed whole to every node,
// and a node refuses a push past peer.MaxAnswer (64 MiB).
const MaxBuckets = 50_000

func applyBucket(md store.BucketMetadata, c Change) (store.BucketMetadata, error) {
	b, props, err := bucketChange(md, c)
	if err != nil {
		return md, err
	}
	next := md.Clone()
	if c.Kind == DestroyBucket {
		next.Delete(b)
	} else {
		next.Set(b, props)
	}
	next.Version++
	return next, nil
}

// bucketChange returns the bucket a change is about and, unless it is a
// destroy, the props it ends with. Only Sound is asked of them here: a
// log replays as written under a build whose rules are stricter than
// those it was written under (Admissible asks Validate of new changes).
func bucketChange(md store.BucketMetadata, c Change) (store.Bucket, store.Props, error) {
	b := c.Bucket.Normalize()
	if err := b.Validate(); err != nil {
		return b, store.Props{}, err
	}
	current, exists := md.Props(b)
	switch c.Kind {
	case CreateBucket:
		if exists {
			return b, store.Props{}, fmt.Errorf("create bucket %s: %w", b, store.ErrBucketExists)
		}
		if len(md.Buckets) >= MaxBuckets {
			return b, store.Props{}, fmt.Errorf("%w: create bucket %s: the cluster has %d", ErrTooManyBuckets, b, len(md.Buckets))
		}
		props := store.DefaultProps()
		if c.Props != nil {
			props = c.Props.Clone()
		}
		props.Provider, props.Created = b.Provider, store.Int64String(c.Created)
		props.BID, props.Access, props.Features = bucketID(b, c.Created), store.AccessAll, "0"
		props.Checksum.Type = store.NormalizeChecksumType(props.Checksum.Type)
		if err := props.Sound(); err != nil {
			return b, store.Props{}, fmt.Errorf("create bucket %s: %w", b, err)
		}
		return b, props, nil
	case DestroyBucket:
		if !exists {
			return b, store.Props{}, fmt.Errorf("destroy bucket %s: %w", b, store.ErrBucketNotFound)
		}
		if c.Created != 0 && int64(current.Created) != c.Created {
			return b, store.Props{}, fmt.Errorf("%w: destroy bucket %s created at %d: it was created again at %d", ErrMapChanged, b, c.Created, current.Created)
		}
		return b, store.Props{}, nil
	case SetProps:
		if !exists {
			return b, store.Props{}, fmt.Errorf("set props of %s: %w", b, store.ErrBucketNotFound)
		}
		if c.IfProps != "" {
			if c.Level < LevelPropsIf {
				return b, store.Props{}, fmt.Errorf("%w: %s with if_props needs level %d", ErrUnknownChange, c.Kind, LevelPropsIf)
			}
			if PropsDigest(current) != c.IfProps {
				return b, store.Props{}, fmt.Errorf("%w: set props of %s: %s", ErrMapChanged, b, PropsChangedMessage)
			}
		}
		props := current.Clone() // the patch decodes into a copy of Extra too
		if err := json.Unmarshal(c.Patch, &props); err != nil {
			return b, store.Props{}, fmt.Errorf("%w: set props of %s: %w", store.ErrInvalidProps, b, err)
		}
		props.Provider, props.Created = current.Provider, current.Created
		props.BID, props.Access, props.Features = current.BID, current.Access, current.Features
		props.Checksum.Type = store.NormalizeChecksumType(props.Checksum.Type)
		// Parts already stored were cut to the layout: it stays (as in
		// AIStore); turning erasure coding off and on again changes it.
		if current.EC.Enabled && props.EC.Enabled && (props.EC.DataSlices != current.EC.DataSlices || props.EC.ParitySlices != current.EC.ParitySlices) {
			return b, store.Props{}, fmt.Errorf("%w: set props of %s: ec.data_slices and ec.parity_slices of an erasure-coded bucket cannot change (it is %d+%d)",
				store.ErrInvalidProps, b, current.EC.DataSlices, current.EC.ParitySlices)
		}
		if err := props.Sound(); err != nil {
			return b, store.Props{}, fmt.Errorf("set props of %s: %w", b, err)
		}
		return b, props, nil
	}
	return b, store.Props{}, fmt.Errorf("%w: %s", ErrUnknownChange, c.Kind)
}

// bucketID is a bucket's id (AIStore's bid): never zero, different for a
// bucket created again under the same name.
func bucketID(b store.Bucket, created int64) store.Int64String {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", b, created)
	return store.Int64String(h.Sum64()>>1 | 1)
}

// PropsChangedMessage says an IfProps refused; a gateway that forwarded
// the change knows the refusal by it.
const PropsChangedMessage = "its props changed since the change was asked"

// PropsDigest names a bucket's props as they are, for IfProps.
func PropsDigest(p store.Props) string {
	data, _ := json.Marshal(p)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}
