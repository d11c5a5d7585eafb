// Command aisnode runs one AIS-Go node. With no flags it is the embedded
// default: one process that is both gateway and target, on port 8080, with
// its data under ./ais-data.
//
//	aisnode                                   # embedded node on :8080
//	aisnode -role gateway -port 8080 -data /var/ais/g1
//	aisnode -role target -port 8081 -data /var/ais/t1 -join http://127.0.0.1:8080
//
// SIGTERM or SIGINT shuts the node down gracefully.
package main
