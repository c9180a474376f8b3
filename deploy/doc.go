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
// dependencies, health checks and environment, and reads the Dockerfile as text.
package deploy
