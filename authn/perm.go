package authn

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Perm is a set of permissions.
type Perm uint32

// The permissions. ADMIN implies every other one.
const (
	PermGet           Perm = 1 << iota // read an object
	PermHead                           // read an object's or a bucket's properties
	PermPut                            // write an object
	PermDelete                         // delete an object
	PermList                           // list objects and buckets, read the cluster's state
	PermCreateBucket                   // create a bucket
	PermDestroyBucket                  // destroy a bucket
	PermAdmin                          // everything: the cluster, nodes, bucket props, jobs, users
)

// PermAll is every permission.
const PermAll = PermAdmin<<1 - 1

// permNames are the permissions' names, in bit order.
var permNames = []string{"GET", "HEAD", "PUT", "DELETE", "LIST", "CREATE-BUCKET", "DESTROY-BUCKET", "ADMIN"}

// Has reports whether p grants every permission of want; ADMIN grants all.
func (p Perm) Has(want Perm) bool { return p&PermAdmin != 0 || p&want == want }

// String lists the permissions, comma-separated, in a fixed order.
func (p Perm) String() string {
	if p == 0 {
		return ""
	}
	var names []string
	for p != 0 {
		i := bits.TrailingZeros32(uint32(p))
		p &^= 1 << i
		if i < len(permNames) {
			names = append(names, permNames[i])
		} else {
			names = append(names, fmt.Sprintf("bit%d", i))
		}
	}
	return strings.Join(names, ",")
}

// ParsePerm reads a comma-separated list of permission names; case does
// not matter, and "RO" and "RW" stand for the read-only and bucket-owner
// sets.
func ParsePerm(text string) (Perm, error) {
	var p Perm
	for name := range strings.SplitSeq(text, ",") {
		name = strings.ToUpper(strings.TrimSpace(name))
		switch name {
		case "":
			continue
		case "RO":
			p |= ReadOnly
			continue
		case "RW":
			p |= BucketOwner
			continue
		}
		i := slices.Index(permNames, name)
		if i < 0 {
			return 0, fmt.Errorf("unknown permission %q (known: %s, RO, RW)", name, strings.Join(permNames, ", "))
		}
		p |= 1 << i
	}
	return p, nil
}

// MarshalText writes the permission names.
func (p Perm) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads permission names.
func (p *Perm) UnmarshalText(text []byte) error {
	v, err := ParsePerm(string(text))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// The built-in roles' permissions.
const (
	ReadOnly    = PermGet | PermHead | PermList
	BucketOwner = ReadOnly | PermPut | PermDelete | PermCreateBucket | PermDestroyBucket
	Admin       = PermAll
)

// Names of the built-in roles.
const (
	RoleAdmin       = "admin"
	RoleBucketOwner = "bucket-owner"
	RoleReadOnly    = "read-only"
)

// BuiltinRoles are the roles every AuthN service has.
func BuiltinRoles() map[string]Role {
	return map[string]Role{
		RoleAdmin:       {ID: RoleAdmin, Description: "everything, on every bucket and the cluster", Perm: Admin},
		RoleBucketOwner: {ID: RoleBucketOwner, Description: "read, write, create and destroy buckets", Perm: BucketOwner},
		RoleReadOnly:    {ID: RoleReadOnly, Description: "read objects and list buckets", Perm: ReadOnly},
	}
}

// Role is a named set of permissions: Perm on every bucket, and Buckets
// on single ones (keyed by "provider://name").
type Role struct {
	ID          string          `json:"id"`
	Description string          `json:"desc,omitempty"`
	Perm        Perm            `json:"perm,omitzero"`
	Buckets     map[string]Perm `json:"buckets,omitempty"`
}

// Grants are what a token lets its holder do: Perm on every bucket, and
// Buckets on single ones.
type Grants struct {
	Perm    Perm            `json:"perm,omitzero"`
	Buckets map[string]Perm `json:"buckets,omitempty"`
}

// AnyBucket, as the bucket of Allows, asks whether want is granted on
// some bucket: for a request whose buckets its handler checks one by one.
const AnyBucket = "*"

// Allows reports whether the grants cover want on bucket ("" for an
// operation on no bucket, AnyBucket for one on buckets checked later).
func (g Grants) Allows(want Perm, bucket string) bool {
	if g.Perm.Has(want) {
		return true
	}
	if bucket == AnyBucket {
		for _, p := range g.Buckets {
			if p.Has(want) {
				return true
			}
		}
		return false
	}
	return bucket != "" && g.Buckets[bucket].Has(want)
}

// add merges more grants in.
func (g *Grants) add(perm Perm, buckets map[string]Perm) {
	g.Perm |= perm
	for b, p := range buckets {
		if g.Buckets == nil {
			g.Buckets = map[string]Perm{}
		}
		g.Buckets[b] |= p
	}
}
