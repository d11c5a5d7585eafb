// Command aisbench runs the AIS-Go benchmark suites and writes their
// report: every figure beside its baseline, measured in the same run
// (see package benchmarks).
//
//	aisbench -out benchmarks/results                 # every suite: report-<date>.md, .json, latest.md
//	aisbench -suites baseline,http -size 64MiB       # some suites, smaller measurements
//	aisbench -suites dsort -out benchmarks/results   # what make bench-dsort runs
package main
