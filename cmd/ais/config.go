package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func newConfigCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show and change the cluster config"}
	cmd.AddCommand(&cobra.Command{
		Use:   "cluster [SECTION.FIELD=VALUE ...]",
		Short: "Show the cluster config, or change fields of it (e.g. distributed_sort.missing_shards=warn)",
		Long: "Without arguments, prints the cluster config the gateways replicate. With SECTION.FIELD=VALUE\n" +
			"arguments, changes those fields at once (all or none):\n\n" +
			"  ais config cluster distributed_sort.missing_shards=warn distributed_sort.default_max_mem_usage=60%",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := client()
			if len(args) == 0 {
				cfg, err := c.ClusterConfig(cmd.Context())
				if err != nil {
					return err
				}
				return printJSON(cfg)
			}
			patch, err := configPatch(args)
			if err != nil {
				return err
			}
			cfg, err := c.SetClusterConfig(cmd.Context(), patch)
			if err != nil {
				return err
			}
			// stdout is the JSON alone, for jq and scripts.
			fmt.Fprintf(os.Stderr, "cluster config version %d\n", cfg.Version)
			return printJSON(cfg)
		},
	})
	return cmd
}

// configPatch turns SECTION.FIELD=VALUE arguments into a partial config.
func configPatch(args []string) (map[string]any, error) {
	patch := map[string]any{}
	for _, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		section, field, dotted := strings.Cut(key, ".")
		if !ok || !dotted || section == "" || field == "" || strings.Contains(field, ".") {
			return nil, fmt.Errorf("%q: want SECTION.FIELD=VALUE, e.g. distributed_sort.missing_shards=warn", arg)
		}
		fields, _ := patch[section].(map[string]any)
		if fields == nil {
			fields = map[string]any{}
			patch[section] = fields
		}
		fields[field] = configValue(value)
	}
	return patch, nil
}

// configValue types a value: an integer or a boolean as such (space.highwm=80),
// anything else a string (lru.capacity_upd_time=10s).
func configValue(value string) any {
	if v, err := strconv.ParseInt(value, 10, 64); err == nil {
		return v
	}
	if v, err := strconv.ParseBool(value); err == nil {
		return v
	}
	return value
}
