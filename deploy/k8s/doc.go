// Package k8s holds the Kubernetes manifests of an AIS-Go cluster, a
// kustomize base (kustomization.yaml: gateways and targets as
// StatefulSets, their Services, the node config, the Secrets and the
// disruption budgets), and no code: its test validates the manifests
// without a cluster.
//
// The test decodes every document strictly into the typed objects of
// k8s.io/api, so a misspelt or misplaced field fails, and then checks
// what the API server would not: every container has probes, requests and
// limits; every ConfigMap, Secret, file and $(VAR) a pod uses exists;
// Services, StatefulSets and disruption budgets select pods whose ports
// they name; aisnode's flags and config fields are real (read from
// cmd/aisnode/main.go); one gateway starts the cluster and the others join
// it at its stable DNS name; every target mountpath is a claim of its own;
// and a stopping target drains itself first (unless ConfigMap
// ais-lifecycle says the whole cluster is stopping). The manifests need
// Kubernetes 1.30 or later (the gateways' sleep preStop hook).
//
//	kubectl apply -k my-overlay   # one that replaces the placeholder Secrets (README.md)
//	go test ./deploy/k8s/
package k8s
