// Package benchmarks measures AIS-Go: the load generator (aisloader), the
// dSort harness, codec and store throughput, and the baselines every figure
// is compared with (plain disk I/O, loopback HTTP, io.Copy), all measured in
// the same run. It writes reports; it never asserts on time.
//
// Every Result names its baseline, so a report shows each figure beside the
// bound it is measured against:
//
//	r := benchmarks.Report{Machine: benchmarks.MachineDescription()}
//	r.Add(benchmarks.Result{Suite: "formats", Name: "io.Copy", Bytes: n, Elapsed: d})
//	r.Add(benchmarks.Result{Suite: "formats", Name: "tar write", Bytes: n, Elapsed: d2, Baseline: "io.Copy"})
//	os.WriteFile("report.md", []byte(r.Markdown()), 0o644)
package benchmarks
