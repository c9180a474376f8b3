// Command gen writes api/openapi.yaml and api/openapi-internal.yaml from api/openapi-all.yaml
// (go generate ./api runs it in api/).
package main

import (
	"fmt"
	"os"

	"github.com/pcx/publicservice/api/openapisplit"
)

func main() {
	all, err := os.ReadFile("openapi-all.yaml")
	if err == nil {
		var public, internal []byte
		if public, internal, err = openapisplit.Split(all); err == nil {
			if err = os.WriteFile("openapi.yaml", public, 0o644); err == nil {
				err = os.WriteFile("openapi-internal.yaml", internal, 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapisplit:", err)
		os.Exit(1)
	}
}
