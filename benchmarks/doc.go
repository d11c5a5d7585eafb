// Package benchmarks measures AIS-Go: the load generator (aisloader), the
// dSort harness, codec and store throughput, and the baselines every figure
// is compared with (plain disk I/O, loopback HTTP, io.Copy), all measured in
// the same run. It writes reports; it never asserts on time.
//
// A Suite is a named set of figures; Suites lists them (baseline, store,
// http, loader, formats, ...) and Run measures some of them into one
// Report, each in its own scratch directory. Every Result names its
// baseline, a figure of the same suite measured in the same run, and may
// name further bounds, so a report shows each figure beside what it is
// measured against:
//
//	report, err := benchmarks.Run(ctx, benchmarks.Config{Dir: scratch, Aisnode: "bin/aisnode"}, benchmarks.Suites())
//	path, err := report.WriteDir("benchmarks/results", true) // report-<date>.md, .json, latest.md
//
// A suite may also be run alone and its results added to a report by hand:
//
//	r := benchmarks.Report{Machine: benchmarks.MachineDescription()}
//	r.Add(benchmarks.Result{Suite: "formats", Name: "io.Copy", Bytes: n, Elapsed: d})
//	r.Add(benchmarks.Result{Suite: "formats", Name: "tar write", Bytes: n, Elapsed: d2, Baseline: "io.Copy"})
//	os.WriteFile("report.md", []byte(r.Markdown()), 0o644)
//
// Figures measured in this process record its peak RSS (VmHWM, reset
// before each figure through /proc/self/clear_refs); figures measured on
// a cluster of aisnode processes record the largest node's.
package benchmarks
