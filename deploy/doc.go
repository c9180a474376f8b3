// Package deploy holds the files that run PCX Public Service in containers and
// the tests that check them without a Docker engine.
//
// The repository root has the Dockerfile (one distroless image with the api,
// worker and pcxctl binaries) and docker-compose.yml (the whole stack on
// official images: Temporal server, admin-tools, UI and PostgreSQL, and Amazon
// DynamoDB Local). This directory holds what the compose file mounts into the
// Temporal containers: the schema and namespace set-up scripts and the dynamic
// config. compose_test.go loads docker-compose.yml with compose-go, the loader
// docker compose itself uses, and asserts the services, images, ports,
// dependencies, health checks and environment, and reads the Dockerfile as text
// (toolchain_test.go: its base images are pinned). prereqs_test.go, tools_test.go
// and vulncheck_test.go run the scripts of make run, make tools and make
// vulncheck against fake tools on PATH.
package deploy
