// Command ais is the command-line client of AIS-Go: buckets, objects,
// shard generation, local clusters and dSort jobs. The endpoint is read
// from AIS_ENDPOINT (default http://localhost:8080).
//
//	ais bucket create ais://images
//	ais put ./photos ais://images/2024/
//	ais ls ais://images --props size,checksum
//	ais get ais://images/2024/cat.jpg -
package main
