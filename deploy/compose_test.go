package deploy_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composePath      = "../docker-compose.yml"
	dockerfilePath   = "../Dockerfile"
	dockerignorePath = "../.dockerignore"

	appImage = "pcx-public-service:dev"
)

// The three services that run the application image.
var appServices = []string{"api", "worker", "migrate"}

// One-shot services: they run to completion on every `up` and are never restarted.
var oneShotServices = []string{"migrate", "temporal-schema", "temporal-setup"}

// composeSecrets are the variables docker-compose.yml requires (${VAR:?message}), with no default.
var composeSecrets = []string{"APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "CURSOR_KEYS", "INTERNAL_TOKEN", "METRICS_TOKEN", "TEMPORAL_DB_PASSWORD"}

// composeEnvFile writes the .env that `make compose-env` writes (scripts/compose-env.sh), into a
// temporary directory, and returns its path.
func composeEnvFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if out, err := exec.Command("bash", "../scripts/compose-env.sh", path).CombinedOutput(); err != nil {
		t.Fatalf("scripts/compose-env.sh: %v\n%s", err, out)
	}
	return path
}

// loadProject loads docker-compose.yml the way `docker compose` does after
// `make compose-env`: the process environment first, then the generated .env,
// paths resolved against the compose file's directory, project name pcx.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	return load(t, cli.WithOsEnv, cli.WithEnvFiles(composeEnvFile(t)), cli.WithDotEnv)
}

// loadProjectWithEnv loads docker-compose.yml with env as the interpolation
// environment and a generated .env for what env leaves out, ignoring the
// process environment and the repository's .env.
func loadProjectWithEnv(t *testing.T, env ...string) *types.Project {
	t.Helper()
	return load(t, cli.WithEnv(env), cli.WithEnvFiles(composeEnvFile(t)), cli.WithDotEnv)
}

func load(t *testing.T, envOpts ...cli.ProjectOptionsFn) *types.Project {
	t.Helper()
	project, err := loadErr(envOpts...)
	if err != nil {
		t.Fatalf("load %s: %v", composePath, err)
	}
	return project
}

func loadErr(envOpts ...cli.ProjectOptionsFn) (*types.Project, error) {
	opts := append(envOpts, cli.WithName("pcx"), cli.WithResolvedPaths(true))
	options, err := cli.NewProjectOptions([]string{composePath}, opts...)
	if err != nil {
		return nil, err
	}
	return options.LoadProject(context.Background())
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	svc, ok := p.Services[name]
	if !ok {
		t.Fatalf("service %q is missing; services are %v", name, p.ServiceNames())
	}
	return svc
}

func TestComposeProjectName(t *testing.T) {
	raw := readFile(t, composePath)
	if !strings.Contains(raw, "\nname: pcx\n") {
		t.Errorf("%s does not declare `name: pcx` at top level", composePath)
	}
	if got := loadProject(t).Name; got != "pcx" {
		t.Errorf("project name: got %q, want %q", got, "pcx")
	}
}

func TestComposeServicesAreExactlyTheExpectedOnes(t *testing.T) {
	p := loadProject(t)
	want := []string{
		"temporal-postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
		"dynamodb", "migrate", "api", "worker",
	}
	got := p.ServiceNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("services: got %v, want %v", got, want)
	}
}

func TestComposeImagesAreOfficialAndPinned(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		want    string
	}{
		{"temporal-postgresql", "postgres:16"},
		{"temporal-schema", "temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0"},
		{"temporal", "temporalio/server:1.29.1"},
		{"temporal-setup", "temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0"},
		{"temporal-ui", "temporalio/ui:2.42.1"},
		{"dynamodb", "amazon/dynamodb-local:3.3.1"},
		{"migrate", appImage},
		{"api", appImage},
		{"worker", appImage},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			got := service(t, p, tt.service).Image
			if got != tt.want {
				t.Errorf("image: got %q, want %q", got, tt.want)
			}
		})
	}

	// Whatever the exact tags, no service may float on latest or an untagged
	// image, and third-party images come only from the official publishers.
	official := []string{"postgres", "temporalio/server", "temporalio/admin-tools", "temporalio/ui", "amazon/dynamodb-local"}
	for name, svc := range p.Services {
		repo, tag := splitImage(svc.Image)
		if tag == "" || tag == "latest" {
			t.Errorf("%s: image %q is not pinned to a version tag", name, svc.Image)
		}
		if svc.Build == nil && !slices.Contains(official, repo) {
			t.Errorf("%s: image repository %q is not one of the official images %v", name, repo, official)
		}
	}
}

// Temporal's server and its admin tools must be the same release: the admin
// tools carry the schema the server expects.
func TestComposeTemporalVersionsAgree(t *testing.T) {
	p := loadProject(t)
	_, server := splitImage(service(t, p, "temporal").Image)
	for _, name := range []string{"temporal-schema", "temporal-setup"} {
		_, tools := splitImage(service(t, p, name).Image)
		if tools != server && !strings.HasPrefix(tools, server+"-") {
			t.Errorf("%s: admin-tools tag %q does not match server version %q", name, tools, server)
		}
	}
}

func TestComposeAppServicesBuildOneImageFromTheRepository(t *testing.T) {
	p := loadProject(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range appServices {
		t.Run(name, func(t *testing.T) {
			svc := service(t, p, name)
			if svc.Image != appImage {
				t.Errorf("image: got %q, want %q", svc.Image, appImage)
			}
			if svc.Build == nil {
				t.Fatalf("build: got none, want context %q", root)
			}
			if got := filepath.Clean(svc.Build.Context); got != root {
				t.Errorf("build context: got %q, want %q", got, root)
			}
			if got := filepath.Base(svc.Build.Dockerfile); got != "Dockerfile" {
				t.Errorf("build dockerfile: got %q, want %q", got, "Dockerfile")
			}
		})
	}
}

func TestComposeCommands(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		want    []string
	}{
		{"api", []string{"/usr/local/bin/api"}},
		{"worker", []string{"/usr/local/bin/worker"}},
		{"migrate", []string{"/usr/local/bin/pcxctl", "table", "create"}},
		{"dynamodb", []string{"-jar", "DynamoDBLocal.jar", "-sharedDb", "-dbPath", "/home/dynamodblocal/data", "-disableTelemetry"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			if got := []string(service(t, p, tt.service).Command); !slices.Equal(got, tt.want) {
				t.Errorf("command: got %q, want %q", got, tt.want)
			}
		})
	}
}

type port struct {
	hostIP    string
	published string
	target    uint32
}

// Every port compose publishes is on the host's loopback only: `docker compose up` on a laptop or
// a shared machine exposes nothing to its network (development secrets included).
func TestComposePublishedPorts(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		want    []port
	}{
		{"api", []port{{hostIP: "127.0.0.1", published: "8080", target: 8080}}},
		{"temporal", []port{{hostIP: "127.0.0.1", published: "7233", target: 7233}}},
		{"temporal-ui", []port{{hostIP: "127.0.0.1", published: "8233", target: 8080}}},
		{"dynamodb", []port{{hostIP: "127.0.0.1", published: "8000", target: 8000}}},
		{"worker", nil},
		{"migrate", nil},
		{"temporal-postgresql", nil},
		{"temporal-schema", nil},
		{"temporal-setup", nil},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			var got []port
			for _, pc := range service(t, p, tt.service).Ports {
				got = append(got, port{hostIP: pc.HostIP, published: pc.Published, target: pc.Target})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ports: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The internal API is reachable from other containers but not published to
// the host (loopback would be the only acceptable host binding).
func TestComposeInternalPortsStayOffTheHost(t *testing.T) {
	p := loadProject(t)
	tests := []struct {
		service string
		port    string
	}{
		{"api", "8081"},
		{"worker", "9090"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			svc := service(t, p, tt.service)
			if !slices.Contains([]string(svc.Expose), tt.port) {
				t.Errorf("expose: got %v, want it to contain %s", svc.Expose, tt.port)
			}
			for _, pc := range svc.Ports {
				if strconv.FormatUint(uint64(pc.Target), 10) == tt.port && !isLoopback(pc.HostIP) {
					t.Errorf("port %s is published on host IP %q, want unpublished or loopback", tt.port, pc.HostIP)
				}
			}
		})
	}
}

// `docker compose up --scale worker=3` needs a worker without fixed host
// ports, container name or host name.
func TestComposeWorkerIsScalable(t *testing.T) {
	w := service(t, loadProject(t), "worker")
	if len(w.Ports) != 0 {
		t.Errorf("worker ports: got %v, want none", w.Ports)
	}
	if w.ContainerName != "" {
		t.Errorf("worker container_name: got %q, want none", w.ContainerName)
	}
	if w.Hostname != "" {
		t.Errorf("worker hostname: got %q, want none", w.Hostname)
	}
	if got := w.GetScale(); got != 1 {
		t.Errorf("worker scale: got %d, want 1 (scaled from the command line)", got)
	}
	const drain = 30 * time.Second
	if w.StopGracePeriod == nil {
		t.Fatalf("worker stop_grace_period: got none, want at least %v to drain deliveries", drain)
	}
	if got := time.Duration(*w.StopGracePeriod); got < drain {
		t.Errorf("worker stop_grace_period: got %v, want at least %v to drain deliveries", got, drain)
	}
}

func TestComposeDependsOn(t *testing.T) {
	p := loadProject(t)
	const (
		healthy   = types.ServiceConditionHealthy
		completed = types.ServiceConditionCompletedSuccessfully
	)
	runtime := map[string]string{
		"migrate":        completed,
		"temporal":       healthy,
		"temporal-setup": completed,
		"dynamodb":       healthy,
	}
	tests := []struct {
		service string
		want    map[string]string
	}{
		{"api", runtime},
		{"worker", runtime},
		{"migrate", map[string]string{"dynamodb": healthy}},
		{"temporal-schema", map[string]string{"temporal-postgresql": healthy}},
		{"temporal", map[string]string{"temporal-postgresql": healthy, "temporal-schema": completed}},
		{"temporal-setup", map[string]string{"temporal": healthy}},
		{"temporal-ui", map[string]string{"temporal": healthy}},
		{"temporal-postgresql", map[string]string{}},
		{"dynamodb", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			got := map[string]string{}
			for dep, d := range service(t, p, tt.service).DependsOn {
				got[dep] = d.Condition
				if !d.Required {
					t.Errorf("depends_on %s: required is false, want true", dep)
				}
			}
			for dep, cond := range tt.want {
				if got[dep] != cond {
					t.Errorf("depends_on %s: got condition %q, want %q", dep, got[dep], cond)
				}
			}
			for dep, cond := range got {
				if _, ok := tt.want[dep]; !ok {
					t.Errorf("depends_on: unexpected dependency %s (%s)", dep, cond)
				}
			}
		})
	}
}

func TestComposeRestartPolicies(t *testing.T) {
	p := loadProject(t)
	for name, svc := range p.Services {
		want := "unless-stopped"
		if slices.Contains(oneShotServices, name) {
			want = "no"
		}
		if svc.Restart != want {
			t.Errorf("%s restart: got %q, want %q", name, svc.Restart, want)
		}
	}
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadProject(t)
	for name, svc := range p.Services {
		if slices.Contains(oneShotServices, name) {
			continue
		}
		hc := svc.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s: long-running service has no healthcheck (got %+v)", name, hc)
		}
	}

	// The application image is distroless: no shell, so the probe is exec'd
	// directly (CMD, not CMD-SHELL) through pcxctl.
	tests := []struct {
		service string
		want    []string
	}{
		{"api", []string{"CMD", "/usr/local/bin/pcxctl", "probe", "http://127.0.0.1:8080/readyz"}},
		{"worker", []string{"CMD", "/usr/local/bin/pcxctl", "probe", "http://127.0.0.1:9090/readyz"}},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			hc := service(t, p, tt.service).HealthCheck
			if hc == nil {
				t.Fatalf("healthcheck: got none, want %q", tt.want)
			}
			if got := []string(hc.Test); !slices.Equal(got, tt.want) {
				t.Errorf("healthcheck test: got %q, want %q", got, tt.want)
			}
		})
	}
}

// The variables the api, worker and migrate binaries read. An empty want
// means any non-empty value.
var appEnvironment = []struct {
	name  string
	want  string
	exact bool
}{
	{"DYNAMODB_ENDPOINT", "http://dynamodb:8000", true},
	{"DYNAMODB_TABLE", "pcx-public", true},
	{"AWS_REGION", "us-east-1", true},
	{"AWS_ACCESS_KEY_ID", "local", true},
	{"AWS_SECRET_ACCESS_KEY", "local", true},
	{"TEMPORAL_ADDRESS", "temporal:7233", true},
	{"TEMPORAL_NAMESPACE", "default", true},
	{"TEMPORAL_TASK_QUEUE", "pcx-webhooks", true},
	{"HTTP_ADDR", ":8080", true},
	{"INTERNAL_HTTP_ADDR", ":8081", true},
	{"WORKER_HTTP_ADDR", ":9090", true},
	{"PCX_ENV_FILE", "", true},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", true}, // tracing off unless the host sets one
	{"LOG_LEVEL", "", false},
	{"APIKEY_PEPPERS", "", false},
	{"WEBHOOK_SECRETS_KEYS", "", false},
	{"CURSOR_KEYS", "", false},
	{"INTERNAL_TOKEN", "", false},
	// INTERNAL_HTTP_ADDR and WORKER_HTTP_ADDR listen beyond loopback: /metrics there needs it.
	{"METRICS_TOKEN", "", false},
}

func TestComposeAppEnvironment(t *testing.T) {
	// The defaults, not whatever the machine running the test has exported.
	p := loadProjectWithEnv(t)
	for _, name := range appServices {
		env := service(t, p, name).Environment
		for _, v := range appEnvironment {
			t.Run(name+"/"+v.name, func(t *testing.T) {
				got, ok := env[v.name]
				switch {
				case !ok || got == nil:
					t.Errorf("got unset, want %q", v.want)
				case v.exact && *got != v.want:
					t.Errorf("got %q, want %q", *got, v.want)
				case !v.exact && *got == "":
					t.Errorf("got empty, want a value")
				}
			})
		}
	}
	// One anchor serves all three: their environments are identical.
	api := service(t, p, "api").Environment
	for _, name := range appServices[1:] {
		if got := service(t, p, name).Environment; !equalEnv(got, api) {
			t.Errorf("%s environment differs from api's:\n got %v\nwant %v", name, flatten(got), flatten(api))
		}
	}
}

// Every address that names another container must name a service of this
// project, on a port that service listens on.
func TestComposeAddressesNameProjectServices(t *testing.T) {
	p := loadProject(t)
	listens := map[string][]string{
		"dynamodb": {"8000"},
		"temporal": {"7233"},
	}
	for name, svc := range p.Services {
		for key, val := range svc.Environment {
			if val == nil || *val == "" {
				continue
			}
			var host, port string
			switch key {
			case "DYNAMODB_ENDPOINT":
				u, err := url.Parse(*val)
				if err != nil {
					t.Errorf("%s %s=%q: %v", name, key, *val, err)
					continue
				}
				host, port = u.Hostname(), u.Port()
			case "TEMPORAL_ADDRESS":
				var err error
				host, port, err = net.SplitHostPort(*val)
				if err != nil {
					t.Errorf("%s %s=%q: %v", name, key, *val, err)
					continue
				}
			default:
				continue
			}
			if _, ok := p.Services[host]; !ok {
				t.Errorf("%s %s=%q: host %q is not a service of the project (%v)", name, key, *val, host, p.ServiceNames())
				continue
			}
			if !slices.Contains(listens[host], port) {
				t.Errorf("%s %s=%q: port %q, want one of %v", name, key, *val, port, listens[host])
			}
		}
	}
	for _, name := range appServices {
		env := service(t, p, name).Environment
		if got := deref(env["DYNAMODB_ENDPOINT"]); !strings.Contains(got, "//dynamodb:") {
			t.Errorf("%s DYNAMODB_ENDPOINT: got %q, want the dynamodb service", name, got)
		}
		if got := deref(env["TEMPORAL_ADDRESS"]); !strings.HasPrefix(got, "temporal:") {
			t.Errorf("%s TEMPORAL_ADDRESS: got %q, want the temporal service", name, got)
		}
	}
}

// docker-compose.yml has no fallback secrets: without one, compose refuses to load and names it.
func TestComposeRefusesToStartWithoutASecret(t *testing.T) {
	for _, missing := range composeSecrets {
		t.Run(missing, func(t *testing.T) {
			var env []string
			for _, name := range composeSecrets {
				if name != missing {
					env = append(env, name+"=set-for-the-test-0123456789abcdef0123456789")
				}
			}
			for _, value := range []string{"", "empty"} { // unset, then set but empty
				if value == "empty" {
					env = append(env, missing+"=")
				}
				_, err := loadErr(cli.WithEnv(env))
				if err == nil {
					t.Fatalf("%s %s: compose loaded, want it refused", missing, value)
				}
				for _, want := range []string{"required variable " + missing + " is missing a value", "make compose-env"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%s %s: error %q lacks %q", missing, value, err, want)
					}
				}
			}
		})
	}
	t.Run("all set", func(t *testing.T) {
		var env []string
		for _, name := range composeSecrets {
			env = append(env, name+"=set-for-the-test-0123456789abcdef0123456789")
		}
		if _, err := loadErr(cli.WithEnv(env)); err != nil {
			t.Errorf("compose with every secret set: %v", err)
		}
	})
	raw := readFile(t, composePath)
	if strings.Contains(raw, "_TOKEN:-") || strings.Contains(raw, "_KEYS:-") || strings.Contains(raw, "PEPPERS:-") || strings.Contains(raw, "PASSWORD:-") {
		t.Errorf("%s still has a ${SECRET:-fallback}", composePath)
	}
}

// `make compose-env` writes a .env with # comments and blank lines, which compose reads, and fresh,
// well-formed values; it never overwrites an existing one.
func TestComposeEnvFile(t *testing.T) {
	path := composeEnvFile(t)
	text := readFile(t, path)
	if !strings.Contains(text, "\n\n# ") || !strings.HasPrefix(text, "# ") {
		t.Fatalf("%s: want # comment lines and blank lines between the settings:\n%s", path, text)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", path, fi.Mode().Perm(), err)
	}
	env := service(t, load(t, cli.WithEnv(nil), cli.WithEnvFiles(path), cli.WithDotEnv), "api").Environment
	for _, name := range []string{"APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "CURSOR_KEYS"} {
		t.Run(name, func(t *testing.T) { checkVersionedKeys(t, deref(env[name])) })
	}
	for _, name := range []string{"INTERNAL_TOKEN", "METRICS_TOKEN"} {
		if got := deref(env[name]); len(got) < 32 {
			t.Errorf("%s: got %d characters, want at least 32", name, len(got))
		}
	}
	other := service(t, load(t, cli.WithEnv(nil), cli.WithEnvFiles(composeEnvFile(t)), cli.WithDotEnv), "api").Environment
	for _, name := range composeSecrets[:5] {
		if deref(env[name]) == deref(other[name]) {
			t.Errorf("%s: two runs of compose-env wrote the same value %q, want fresh random ones", name, deref(env[name]))
		}
	}
	if out, err := exec.Command("bash", "../scripts/compose-env.sh", path).CombinedOutput(); err != nil || !strings.Contains(string(out), "exists; kept") {
		t.Errorf("second compose-env on %s: %v %s, want it kept", path, err, out)
	}
	if readFile(t, path) != text {
		t.Errorf("compose-env rewrote an existing %s", path)
	}
}

// Values from the host environment win over the .env file.
func TestComposeSecretsComeFromTheHostEnvironment(t *testing.T) {
	host := map[string]string{
		"APIKEY_PEPPERS":       "2:" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"WEBHOOK_SECRETS_KEYS": "3:" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"INTERNAL_TOKEN":       "token-from-the-host-environment-0123456789",
		"METRICS_TOKEN":        "metrics-token-from-the-host-environment-0123",
		"LOG_LEVEL":            "debug",
	}
	var env []string
	for k, v := range host {
		env = append(env, k+"="+v)
	}
	p := loadProjectWithEnv(t, env...)
	for _, name := range appServices {
		got := service(t, p, name).Environment
		for k, want := range host {
			if deref(got[k]) != want {
				t.Errorf("%s %s: got %q, want %q from the host", name, k, deref(got[k]), want)
			}
		}
	}
}

func TestComposeTemporalSearchAttributes(t *testing.T) {
	setup := service(t, loadProject(t), "temporal-setup")
	attrs := strings.Fields(deref(setup.Environment["PCX_SEARCH_ATTRIBUTES"]))
	for _, want := range []string{"PcxOrgId", "PcxEventId"} {
		if !slices.Contains(attrs, want) {
			t.Errorf("temporal-setup PCX_SEARCH_ATTRIBUTES: got %v, want it to contain %s", attrs, want)
		}
	}
	if got := deref(setup.Environment["TEMPORAL_NAMESPACE"]); got != "default" {
		t.Errorf("temporal-setup TEMPORAL_NAMESPACE: got %q, want %q (the app's namespace)", got, "default")
	}
	script := readFile(t, "temporal/setup-namespace.sh")
	if !strings.Contains(script, "--type Keyword") {
		t.Errorf("setup-namespace.sh does not create Keyword search attributes")
	}
}

// Bind mounts point at files in the repository; named volumes are declared.
func TestComposeVolumes(t *testing.T) {
	p := loadProject(t)
	named := 0
	for name, svc := range p.Services {
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: bind mount source %q: %v", name, v.Source, err)
				}
				if !v.ReadOnly {
					t.Errorf("%s: bind mount %q is writable, want read-only", name, v.Source)
				}
			case types.VolumeTypeVolume:
				named++
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("%s: volume %q is not declared under top-level volumes", name, v.Source)
				}
			}
		}
	}
	for _, name := range []string{"temporal-postgresql", "dynamodb"} {
		if !hasNamedVolume(service(t, p, name)) {
			t.Errorf("%s: no named volume, its data would not survive `docker compose down`", name)
		}
	}
	if named == 0 {
		t.Error("no named volumes at all")
	}
}

// ---- Dockerfile and .dockerignore ------------------------------------------

type instruction struct {
	cmd  string // upper case
	args string
}

type stage struct {
	from  string // image reference, without --platform
	name  string
	instr []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and dropping comments.
func parseDockerfile(t *testing.T, text string) []stage {
	t.Helper()
	var (
		stages  []stage
		logical strings.Builder
	)
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		ins := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if ins.cmd == "FROM" {
			var st stage
			for _, f := range strings.Fields(ins.args) {
				switch {
				case strings.HasPrefix(f, "--"):
				case st.from == "":
					st.from = f
				case strings.EqualFold(f, "AS"):
				default:
					st.name = f
				}
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			if ins.cmd != "ARG" {
				t.Errorf("Dockerfile: %s before the first FROM", ins.cmd)
			}
			return
		}
		last := &stages[len(stages)-1]
		last.instr = append(last.instr, ins)
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if body, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(body + " ")
			continue
		}
		logical.WriteString(line)
		flush()
	}
	flush()
	return stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func (s stage) index(cmd, contains string) int {
	for i, in := range s.instr {
		if in.cmd == cmd && strings.Contains(in.args, contains) {
			return i
		}
	}
	return -1
}

func TestDockerfileBuilderStage(t *testing.T) {
	stages := parseDockerfile(t, readFile(t, dockerfilePath))
	if len(stages) < 2 {
		t.Fatalf("stages: got %d, want a builder and a runtime stage", len(stages))
	}
	b := stages[0]
	if repo, tag := splitImage(b.from); repo != "golang" || !strings.HasPrefix(tag, "1.27") {
		t.Errorf("builder image: got %q, want golang:1.27 (the Go the Makefile builds with)", b.from)
	}
	modules, source := b.index("COPY", "go.mod go.sum"), b.index("COPY", ". .")
	if modules < 0 || source < 0 || modules > source {
		t.Errorf("COPY order: go.mod/go.sum at %d, sources at %d; want go.mod and go.sum copied first for layer caching", modules, source)
	}
	if download := b.index("RUN", "go mod download"); download < modules || download > source {
		t.Errorf("go mod download at instruction %d, want it between copying go.mod (%d) and the sources (%d)", download, modules, source)
	}
	if b.index("ARG", "VERSION=") < 0 {
		t.Error("builder has no ARG VERSION to stamp into the binaries")
	}
	env := strings.Join(append(b.all("ENV"), b.all("RUN")...), "\n")
	if !strings.Contains(env, "CGO_ENABLED=0") {
		t.Error("builder does not set CGO_ENABLED=0")
	}
	runs := strings.Join(b.all("RUN"), "\n")
	for _, cache := range []string{"--mount=type=cache,target=/go/pkg/mod", "--mount=type=cache,target=/root/.cache/go-build"} {
		if !strings.Contains(runs, cache) {
			t.Errorf("builder has no %s", cache)
		}
	}
	for _, bin := range []string{"api", "worker", "pcxctl"} {
		t.Run(bin, func(t *testing.T) {
			for _, run := range b.all("RUN") {
				for _, cmd := range strings.Split(run, "&&") {
					if !strings.Contains(cmd, "go build") || !strings.Contains(cmd, "./cmd/"+bin) {
						continue
					}
					// Stripped, and stamped with the build's VERSION (pcx_build_info, pcxctl version).
					for _, flag := range []string{"-trimpath", `-ldflags="-s -w -X github.com/pcx/publicservice/app.Version=${VERSION}"`, "-o /out/" + bin} {
						if !strings.Contains(cmd, flag) {
							t.Errorf("go build of ./cmd/%s: got %q, want %s", bin, strings.TrimSpace(cmd), flag)
						}
					}
					return
				}
			}
			t.Errorf("no `go build ... ./cmd/%s` in the builder stage", bin)
		})
	}
}

func TestDockerfileRuntimeStage(t *testing.T) {
	stages := parseDockerfile(t, readFile(t, dockerfilePath))
	r := stages[len(stages)-1]
	if r.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime image: got %q, want gcr.io/distroless/static-debian12:nonroot", r.from)
	}
	users := r.all("USER")
	if len(users) == 0 {
		t.Fatal("runtime stage has no USER; want a non-root user")
	}
	user, _, _ := strings.Cut(users[len(users)-1], ":")
	if user == "" || user == "root" || user == "0" {
		t.Errorf("runtime USER: got %q, want non-root", users[len(users)-1])
	}
	installed := installedBinaries(r)
	for _, bin := range []string{"/usr/local/bin/api", "/usr/local/bin/worker", "/usr/local/bin/pcxctl"} {
		if !slices.Contains(installed, bin) {
			t.Errorf("runtime stage does not install %s (installs %v)", bin, installed)
		}
	}
	var exposed []string
	for _, e := range r.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(e)...)
	}
	for _, p := range []string{"8080", "8081", "9090"} {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE: got %v, want it to contain %s", exposed, p)
		}
	}
}

// Every program the compose file runs in the app image is one the image has.
func TestComposeRunsOnlyBinariesTheImageHas(t *testing.T) {
	stages := parseDockerfile(t, readFile(t, dockerfilePath))
	installed := installedBinaries(stages[len(stages)-1])
	p := loadProject(t)
	for _, name := range appServices {
		svc := service(t, p, name)
		var programs []string
		if len(svc.Command) > 0 {
			programs = append(programs, svc.Command[0])
		}
		if hc := svc.HealthCheck; hc != nil && len(hc.Test) > 1 && hc.Test[0] == "CMD" {
			programs = append(programs, hc.Test[1])
		}
		for _, prog := range programs {
			if !slices.Contains(installed, prog) {
				t.Errorf("%s runs %s, which the image does not install (installs %v)", name, prog, installed)
			}
		}
	}
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(readFile(t, dockerignorePath), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/"))
		}
	}
	for _, want := range []string{".git", ".run", ".tools", "tools/dynamodb-local/node_modules", "bench/results"} {
		if !slices.Contains(patterns, want) {
			t.Errorf(".dockerignore: %q is missing", want)
		}
	}
	// The build needs these; excluding them would break `COPY . .` + go build.
	for _, never := range []string{"*", "go.mod", "go.sum", "cmd", "*.go", "**/*.go", "internal"} {
		if slices.Contains(patterns, never) {
			t.Errorf(".dockerignore excludes %q, which the build needs", never)
		}
	}
}

// ---- helpers ----------------------------------------------------------------

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// splitImage splits an image reference into repository and tag; the tag is
// empty when there is none. A registry port is not mistaken for a tag.
func splitImage(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// installedBinaries lists the absolute paths that the stage's COPY
// instructions place into a directory target (one ending in "/").
func installedBinaries(s stage) []string {
	var out []string
	for _, args := range s.all("COPY") {
		var paths []string
		for _, f := range strings.Fields(args) {
			if !strings.HasPrefix(f, "--") {
				paths = append(paths, f)
			}
		}
		if len(paths) < 2 || !strings.HasSuffix(paths[len(paths)-1], "/") {
			continue
		}
		dest := paths[len(paths)-1]
		for _, src := range paths[:len(paths)-1] {
			out = append(out, dest+filepath.Base(src))
		}
	}
	return out
}

// checkVersionedKeys checks a "version:base64(32 bytes)[,version:...]" list.
func checkVersionedKeys(t *testing.T, value string) {
	t.Helper()
	if value == "" {
		t.Fatal("got empty, want version:base64 entries")
	}
	for _, entry := range strings.Split(value, ",") {
		version, key, ok := strings.Cut(entry, ":")
		if !ok {
			t.Errorf("entry %q: want version:base64", entry)
			continue
		}
		if v, err := strconv.Atoi(version); err != nil || v < 1 {
			t.Errorf("entry %q: version %q, want a positive integer", entry, version)
		}
		raw, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			t.Errorf("entry %q: key is not standard base64: %v", entry, err)
			continue
		}
		if len(raw) != 32 {
			t.Errorf("entry %q: key decodes to %d bytes, want 32", entry, len(raw))
		}
	}
}

func hasNamedVolume(svc types.ServiceConfig) bool {
	for _, v := range svc.Volumes {
		if v.Type == types.VolumeTypeVolume {
			return true
		}
	}
	return false
}

func isLoopback(hostIP string) bool {
	ip := net.ParseIP(hostIP)
	return ip != nil && ip.IsLoopback()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func equalEnv(a, b types.MappingWithEquals) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || (v == nil) != (w == nil) || deref(v) != deref(w) {
			return false
		}
	}
	return true
}

func flatten(m types.MappingWithEquals) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+deref(v))
	}
	slices.Sort(out)
	return out
}
