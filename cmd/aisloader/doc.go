// Command aisloader is AIS-Go's load generator, after AIStore's aisloader
// (same flag names where one exists): PUT, GET or a mix over one bucket,
// fixed or ranged object sizes, a number of workers, and a stop condition
// (duration, operations, PUTs or total PUT size; one is required). It
// prints a line of stats per operation every -statsinterval, a summary at
// the end, and with -json the whole report. The exit status is 1 when the
// errors exceed -maxerrors, 2 for bad flags.
//
//	aisloader -bucket ais://b -pctput 100 -minsize 64KiB -maxsize 4MiB -numworkers 8 -totalputsize 1GiB
//	aisloader -bucket ais://b -pctput 0 -duration 30s -json-out get.json
//	aisloader -bucket ais://b -pctput 30 -numops 10000 -cleanup
package main
