package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aisgo/aisgo/api"
	"github.com/aisgo/aisgo/shards"
)

// printEstimate prints what a job would do: the inputs and outputs, a row
// per target, and the forecast.
func printEstimate(e api.DsortEstimate) {
	fmt.Printf("dSort estimate: %s -> %s (%s -> %s) on %d target(s), in %s\n", e.Input, e.Output, e.InputFormat, e.OutputFormat,
		len(e.Targets), e.Elapsed.Round(time.Millisecond))
	missing := ""
	if e.MissingShards > 0 {
		missing = fmt.Sprintf(" (%d missing)", e.MissingShards)
	}
	fmt.Printf("input:   %d shards%s, %s; %d records, %s of files\n", e.InputShards, missing, shards.FormatSize(e.InputBytes),
		e.Records, shards.FormatSize(e.FileBytes))
	exact := "exact"
	if !e.OutputExact {
		exact = "as tar, before " + e.OutputFormat + " encodes it"
	}
	names := "none"
	if e.OutputShards > 0 {
		names = e.FirstShard + " .. " + e.LastShard
	}
	fmt.Printf("output:  %d shards (%s), %d records, %s (%s)\n", e.OutputShards, names, e.OutputRecords, shards.FormatSize(e.OutputBytes), exact)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TARGET\tSHARDS IN\tRECORDS\tINPUT\tMEMORY\tBUDGET\tHOLDS\tDISK READ\tDISK WRITE\tNETWORK\tSHARDS OUT\tOUTPUT\tEXTRACT\tCREATE")
	for _, t := range e.Targets {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", t.Node, t.InputShards, t.Records,
			shards.FormatSize(t.InputBytes), shards.FormatSize(t.Memory), shards.FormatSize(t.MemoryLimit), holds(t, e.Spills),
			rateOf(t.ReadBytes, t.ReadTime), rateOf(t.WriteBytes, t.WriteTime), rateOf(t.NetworkBytes, t.NetworkTime),
			t.OutputShards, shards.FormatSize(t.OutputBytes), t.Extract.Round(time.Millisecond), t.Create.Round(time.Millisecond))
	}
	w.Flush()
	printSharedDisks(e.Targets)
	f := e.Forecast
	fmt.Printf("forecast: %s (extract %s, sort %s, create %s)\n", f.Total.Round(time.Millisecond), f.Extract.Round(time.Millisecond),
		f.Sort.Round(time.Millisecond), f.Create.Round(time.Millisecond))
	for _, warning := range e.Warnings {
		fmt.Printf("warning: %s\n", printable(warning))
	}
}

// printSharedDisks names the targets that share disks, which the forecast
// takes at the sum of their rates.
func printSharedDisks(targets []api.DsortTargetEstimate) {
	var disks []string
	byDisk := map[string][]string{}
	for _, t := range targets {
		if t.Disk == "" {
			continue
		}
		if byDisk[t.Disk] == nil {
			disks = append(disks, t.Disk)
		}
		byDisk[t.Disk] = append(byDisk[t.Disk], t.Node)
	}
	for _, d := range disks {
		if nodes := byDisk[d]; len(nodes) > 1 {
			fmt.Printf("shared disks: %s read and write the same disks; the forecast moves their bytes at the sum of their rates\n",
				strings.Join(nodes, ", "))
		}
	}
}

// holds says where a target keeps its records' bytes: a plain tar's stay
// in its shards; others are kept in memory up to the budget, and spill
// past it.
func holds(t api.DsortTargetEstimate, spills bool) string {
	switch {
	case !spills:
		return "in the input shards"
	case t.PastBudget == 0:
		return "in memory"
	}
	return "spills " + shards.FormatSize(t.PastBudget)
}

// rateOf prints a measured rate, "-" when nothing was measured.
func rateOf(bytes int64, d time.Duration) string {
	r := api.Rate(bytes, d)
	if r == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB/s", r/(1<<20))
}

// printComparison prints a finished job's figures beside its estimate,
// with the estimate's error.
func printComparison(e api.DsortEstimate, sum api.DsortJobInfo) {
	m := sum.Metrics
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\tESTIMATE\tACTUAL\tERROR")
	count := func(n int64) string { return fmt.Sprint(n) }
	for _, c := range []struct {
		name             string
		estimate, actual int64
		format           func(int64) string
	}{
		{"records", e.Records, m.Extraction.ExtractedRecordCount, count},
		{"extracted bytes", e.FileBytes, m.Extraction.ExtractedSize, shards.FormatSize},
		{"output shards", e.OutputShards, m.Creation.CreatedCount, count},
		{"output records", e.OutputRecords, m.Creation.CreatedRecordCount, count},
		{"output bytes", e.OutputBytes, m.Creation.CreatedSize, shards.FormatSize},
	} {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", c.name, c.format(c.estimate), c.format(c.actual), relativeError(float64(c.estimate), float64(c.actual)))
	}
	total := sum.FinishTime.Sub(sum.StartedTime)
	for _, p := range []struct {
		name             string
		estimate, actual time.Duration
	}{
		{"extract time", e.Forecast.Extract, time.Duration(m.Extraction.Elapsed)},
		{"sort time", e.Forecast.Sort, time.Duration(m.Sorting.Elapsed)},
		{"create time", e.Forecast.Create, time.Duration(m.Creation.Elapsed)},
		{"total time", e.Forecast.Total, total},
	} {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.name, p.estimate.Round(time.Millisecond), p.actual.Round(time.Millisecond),
			relativeError(float64(p.estimate), float64(p.actual)))
	}
	w.Flush()
}

// relativeError is (estimate - actual) / actual as a signed percentage.
func relativeError(estimate, actual float64) string {
	if actual == 0 {
		if estimate == 0 {
			return "0%"
		}
		return "-"
	}
	return fmt.Sprintf("%+.0f%%", (estimate-actual)/actual*100)
}
