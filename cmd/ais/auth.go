package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/authn"
	"github.com/aisgo/aisgo/internal/atomicfile"
	"github.com/aisgo/aisgo/store"
)

// defaultAuthnURL is the AuthN service's address when AIS_AUTHN_URL is
// not set (AIStore's default port).
const defaultAuthnURL = "http://localhost:52001"

func authnURL() string {
	if u := strings.TrimRight(os.Getenv("AIS_AUTHN_URL"), "/"); u != "" {
		return u
	}
	return defaultAuthnURL
}

// tokenFile is where the CLI keeps the token.
func tokenFile() string {
	if f := os.Getenv(api.EnvTokenFile); f != "" {
		return f
	}
	return api.DefaultTokenFile()
}

// keptTokenFile is tokenFile, or why there is none (no home directory).
func keptTokenFile() (string, error) {
	if path := tokenFile(); path != "" {
		return path, nil
	}
	return "", fmt.Errorf("no place to keep the token: set %s (a file) or HOME", api.EnvTokenFile)
}

// authnCall sends a request to the AuthN service with the CLI's token and
// decodes a JSON answer into out (when not nil).
func authnCall(cmd *cobra.Command, method, path string, in, out any) error {
	return authnCallAs(cmd, api.TokenFromEnv(), method, path, in, out)
}

// authnCallAs is authnCall with the token given.
func authnCallAs(cmd *cobra.Command, token, method, path string, in, out any) error {
	hc := &http.Client{Transport: api.NewTransportTLS(clientTLS), Timeout: time.Minute}
	if err := authnDo(cmd.Context(), hc, authnURL(), token, method, path, in, out); err != nil {
		return fmt.Errorf("AuthN service at %s (AIS_AUTHN_URL): %w", authnURL(), err)
	}
	return nil
}

// authnError is the AuthN service's answer to a request it refused.
type authnError struct {
	Status  int
	Message string
}

func (e *authnError) Error() string { return fmt.Sprintf("%s (status %d)", e.Message, e.Status) }

// authnDo sends a request to an AuthN service at base.
func authnDo(ctx context.Context, hc *http.Client, base, token, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return &authnError{Status: resp.StatusCode, Message: e.Message}
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func newAuthCommand() *cobra.Command {
	auth := &cobra.Command{
		Use:   "auth",
		Short: "Log in, and manage the users, roles and clusters of the AuthN service",
		Long: "auth talks to the AuthN service at AIS_AUTHN_URL (default " + defaultAuthnURL + ").\n" +
			"`ais auth login` keeps the token in " + tokenFile() + " (AIS_AUTHN_TOKEN_FILE); every command sends it,\n" +
			"or the token in AIS_AUTHN_TOKEN. Permissions: GET, HEAD, PUT, DELETE, LIST, CREATE-BUCKET, DESTROY-BUCKET,\n" +
			"ADMIN (everything); RO and RW stand for the read-only and bucket-owner sets. Built-in roles: admin,\n" +
			"bucket-owner, read-only.",
	}
	auth.AddCommand(newLoginCommand(), newLogoutCommand(), newAuthAddCommand(), newAuthShowCommand(), newAuthRemoveCommand(), newRevokeCommand())
	return auth
}

func newLoginCommand() *cobra.Command {
	var passwordFlag passwordFlags
	var cluster string
	var expires time.Duration
	cmd := &cobra.Command{
		Use:   "login NAME [--password-stdin | -p PASSWORD]",
		Short: "Log in and keep the token for the following commands (asks for the password on a terminal)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := passwordFlag.get(cmd)
			if err != nil {
				return err
			}
			var out authn.TokenMsg
			msg := map[string]any{"password": password}
			if expires > 0 {
				msg["expires_in"] = expires.String()
			}
			if cluster != "" {
				msg["cluster_id"] = cluster
			}
			path, err := keptTokenFile()
			if err != nil {
				return err
			}
			// Without the kept token: a login needs none, and the service
			// named may not be the one the token is of.
			if err := authnCallAs(cmd, "", http.MethodPost, "/v1/users/"+url.PathEscape(args[0]), msg, &out); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			// A new file (0600) renamed over the old, which may be wider:
			// the token is never in a file others may read.
			if err := atomicfile.Write(path, []byte(out.Token+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in as %s; the token is in %s\n", args[0], path)
			if strings.TrimSpace(os.Getenv(api.EnvToken)) != "" {
				// It comes first: the commands would act as its user.
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is set, and the commands use it rather than this login's token: unset it\n", api.EnvToken)
			}
			return nil
		},
	}
	passwordFlag.add(cmd)
	cmd.Flags().DurationVar(&expires, "expires", 0, "the token's lifetime (default: the service's, 24h)")
	cmd.Flags().StringVar(&cluster, "cluster", "", "make the token valid for this cluster (its uuid) only")
	return cmd
}

func newLogoutCommand() *cobra.Command {
	var local bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Revoke the kept token and remove it",
		Long: "Revoke the kept token and remove it. When the AuthN service cannot be reached, the token stays\n" +
			"(it is still valid): retry, or remove it here only with --local.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := keptTokenFile()
			if err != nil {
				return err
			}
			data, err := os.ReadFile(path)
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("not logged in: no %s", path)
			}
			if err != nil {
				return err
			}
			if local {
				if err := os.Remove(path); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed %s; the token was not revoked and stays valid until it expires\n", path)
				return nil
			}
			token := strings.TrimSpace(string(data))
			// As the token itself (not AIS_AUTHN_TOKEN's): a 401 then
			// says it is no longer valid, and only then it may go.
			err = authnCallAs(cmd, token, http.MethodDelete, "/v1/tokens", authn.TokenMsg{Token: token}, nil)
			// Only a token expired or revoked goes: a 401 for a token
			// the service cannot verify (another service's, as when
			// AIS_AUTHN_URL names another) leaves it valid where it was
			// made.
			var refused *authnError
			expired := errors.As(err, &refused) && refused.Status == http.StatusUnauthorized &&
				(strings.Contains(refused.Message, strings.TrimPrefix(authn.ErrExpired.Error(), "authn: ")) ||
					strings.Contains(refused.Message, strings.TrimPrefix(authn.ErrRevoked.Error(), "authn: ")))
			if err != nil && !expired {
				// A token removed but not revoked could not be revoked later.
				return fmt.Errorf("%w; the token is kept in %s: retry, or remove it only here with --local", err, path)
			}
			if err := os.Remove(path); err != nil {
				return err
			}
			if expired {
				fmt.Fprintln(cmd.OutOrStdout(), "Logged out; the token was no longer valid")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Logged out; the token is revoked")
			return nil
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "remove the kept token without revoking it")
	return cmd
}

// grantFlags are the permission flags of users and roles.
type grantFlags struct {
	perm    string
	buckets []string
}

func (g *grantFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&g.perm, "perm", "", "permissions on every bucket, comma-separated (e.g. GET,LIST or RO)")
	cmd.Flags().StringArrayVar(&g.buckets, "bucket", nil, "permissions on one bucket: BUCKET=PERMS, e.g. ais://b=GET,PUT (repeatable)")
}

func (g *grantFlags) parse() (authn.Perm, map[string]authn.Perm, error) {
	perm, err := authn.ParsePerm(g.perm)
	if err != nil {
		return 0, nil, fmt.Errorf("--perm: %w", err)
	}
	var buckets map[string]authn.Perm
	for _, b := range g.buckets {
		name, perms, ok := strings.Cut(b, "=")
		if !ok {
			return 0, nil, fmt.Errorf("--bucket %q: want BUCKET=PERMS", b)
		}
		bucket, err := store.ParseBucketURI(name)
		if err != nil {
			return 0, nil, fmt.Errorf("--bucket %q: %w", b, err)
		}
		p, err := authn.ParsePerm(perms)
		if err != nil {
			return 0, nil, fmt.Errorf("--bucket %q: %w", b, err)
		}
		if buckets == nil {
			buckets = map[string]authn.Perm{}
		}
		buckets[bucket.String()] |= p
	}
	return perm, buckets, nil
}

func newAuthAddCommand() *cobra.Command {
	add := &cobra.Command{Use: "add", Short: "Add a user, a role or a cluster"}
	var passwordFlag passwordFlags
	var roles, clusters []string
	var userGrants, roleGrants grantFlags
	user := &cobra.Command{
		Use:   "user NAME [--password-stdin | -p PASSWORD] [--role ROLE]... [--perm PERMS] [--bucket BUCKET=PERMS]...",
		Short: "Add a user (asks for the password on a terminal)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			password, err := passwordFlag.get(cmd)
			if err != nil {
				return err
			}
			perm, buckets, err := userGrants.parse()
			if err != nil {
				return err
			}
			u := authn.User{ID: args[0], Password: password, Roles: roles, Perm: perm, Buckets: buckets, Clusters: clusters}
			if err := authnCall(cmd, http.MethodPost, "/v1/users", u, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added user %s\n", args[0])
			return nil
		},
	}
	passwordFlag.add(user)
	user.Flags().StringArrayVar(&roles, "role", nil, "a role of the user (repeatable): admin, bucket-owner, read-only or one added")
	user.Flags().StringArrayVar(&clusters, "cluster", nil, "a cluster (uuid) the user may use (repeatable; default: all)")
	userGrants.add(user)
	var description string
	role := &cobra.Command{
		Use:   "role NAME [--perm PERMS] [--bucket BUCKET=PERMS]...",
		Short: "Add a role",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			perm, buckets, err := roleGrants.parse()
			if err != nil {
				return err
			}
			if perm == 0 && len(buckets) == 0 {
				return errors.New("a role needs --perm or --bucket")
			}
			if err := authnCall(cmd, http.MethodPost, "/v1/roles", authn.Role{ID: args[0], Description: description, Perm: perm, Buckets: buckets}, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added role %s\n", args[0])
			return nil
		},
	}
	role.Flags().StringVar(&description, "desc", "", "what the role is for")
	roleGrants.add(role)
	var id, alias string
	cluster := &cobra.Command{
		Use:   "cluster URL... [--id UUID] [--alias NAME]",
		Short: "Register a cluster: its gateways take the revoked tokens",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if id == "" {
				// Tokens pushed to the cluster name it by its uuid: its
				// gateways take no other.
				smap, err := newClient(clientTLS, args[0]).Map(cmd.Context())
				if err != nil {
					return fmt.Errorf("read the cluster's uuid from %s (or give --id): %w", args[0], err)
				}
				id = smap.UUID
			}
			var out map[string]string
			if err := authnCall(cmd, http.MethodPost, "/v1/clusters", authn.Cluster{ID: id, Alias: alias, URLs: args}, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Registered cluster %s\n", out["id"])
			return nil
		},
	}
	cluster.Flags().StringVar(&id, "id", "", "the cluster's uuid (ais cluster show); read from the first URL when not given")
	cluster.Flags().StringVar(&alias, "alias", "", "a name for the cluster")
	var keyCluster string
	s3Key := &cobra.Command{
		Use:   "s3-key USER",
		Short: "Make an S3 access key of a user (the user or an admin): S3 requests signed with it act as the user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in any
			if keyCluster != "" {
				in = map[string]string{"cluster_id": keyCluster}
			}
			var out map[string]string
			if err := authnCall(cmd, http.MethodPost, "/v1/users/"+url.PathEscape(args[0])+"/s3-keys", in, &out); err != nil {
				return err
			}
			where := "cluster " + out["cluster_id"]
			if out["cluster_id"] == "" {
				where = "the cluster registered next that the user may use (none is yet)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "S3 key of %s for %s (the secret is shown once):\n  export AWS_ACCESS_KEY_ID=%s\n  export AWS_SECRET_ACCESS_KEY=%s\n",
				args[0], where, out["access_key"], out["secret_key"])
			return nil
		},
	}
	s3Key.Flags().StringVar(&keyCluster, "cluster", "", "the cluster (its id) the key works on, when the user may use several registered ones")
	add.AddCommand(user, role, cluster, s3Key)
	return add
}

func newAuthShowCommand() *cobra.Command {
	show := &cobra.Command{Use: "show", Short: "Show users, roles or clusters"}
	shorts := map[string]string{"user": "Show the users, or one (a user may show itself: its roles and S3 access keys)",
		"role": "Show the roles, or one", "cluster": "Show the registered clusters"}
	for _, kind := range []string{"user", "role", "cluster"} {
		show.AddCommand(&cobra.Command{
			Use:   kind + " [NAME]",
			Short: shorts[kind],
			Args:  cobra.MaximumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				path := "/v1/" + kind + "s"
				if len(args) == 1 {
					if kind == "cluster" {
						return errors.New("clusters are shown all at once")
					}
					path += "/" + url.PathEscape(args[0])
				}
				var out any
				if err := authnCall(cmd, http.MethodGet, path, nil, &out); err != nil {
					return err
				}
				return printJSON(out)
			},
		})
	}
	return show
}

func newAuthRemoveCommand() *cobra.Command {
	rm := &cobra.Command{Use: "rm", Short: "Remove a user, a role, a cluster or an S3 key"}
	rm.AddCommand(&cobra.Command{
		Use:   "s3-key ACCESS_KEY",
		Short: "Delete an S3 access key: the cluster refuses it after the next push",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := authnCall(cmd, http.MethodDelete, "/v1/s3-keys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted S3 key %s\n", args[0])
			return nil
		},
	})
	for _, kind := range []string{"user", "role", "cluster"} {
		rm.AddCommand(&cobra.Command{
			Use:   kind + " NAME",
			Short: "Remove a " + kind,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				// A user's removal names the keys it made for others,
				// which went with it.
				var out struct {
					Dropped []struct {
						AccessKey string `json:"access_key"`
						User      string `json:"user"`
					} `json:"dropped_s3_keys"`
				}
				if err := authnCall(cmd, http.MethodDelete, "/v1/"+kind+"s/"+url.PathEscape(args[0]), nil, &out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed %s %s\n", kind, args[0])
				for _, k := range out.Dropped {
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted S3 key %s of user %s, which %s made\n", k.AccessKey, k.User, args[0])
				}
				return nil
			},
		})
	}
	return rm
}

func newRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke TOKEN|-",
		Short: "Revoke a token (admin): every node of the registered clusters refuses it",
		Long:  "Revoke a token (admin): every node of the registered clusters refuses it.\nGive - to read the token from stdin (kept out of the process list and the shell's history).",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			token := strings.TrimSpace(args[0])
			if token == "-" {
				data, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
				if err != nil {
					return fmt.Errorf("read the token from stdin: %w", err)
				}
				token = strings.TrimSpace(string(data))
			}
			if token == "" {
				return errors.New("no token to revoke")
			}
			if err := authnCall(cmd, http.MethodDelete, "/v1/tokens", authn.TokenMsg{Token: token}, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Revoked")
			return nil
		},
	}
}
