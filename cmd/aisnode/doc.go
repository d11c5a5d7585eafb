// Command aisnode runs one AIS-Go node. With no flags it is the embedded
// default: one process that is both gateway and target, on port 8080, with
// its data under ./ais-data.
//
//	aisnode                                   # embedded node on :8080
//	aisnode -role gateway -port 8080 -data /tmp/ais/g1
//	aisnode -role target -port 8081 -data /tmp/ais/t1 -join http://127.0.0.1:8080 -secret-file /tmp/ais/g1/meta/cluster-secret
//
// SIGTERM, SIGINT or SIGHUP shuts the node down gracefully.
package main
