// Command pcxctl is the operator's tool: it bootstraps an organisation's first API key straight
// in the store, lists, revokes and re-activates keys, lists an organisation's webhooks, shows and
// replays events, creates the DynamoDB table, and probes health endpoints.
// It reads the same configuration as the services (environment, then PCX_ENV_FILE, by default
// .run/pcx.env as written by `make run`), so it works beside `make run` with no setup.
// Every command that reads takes --json, for scripts (views.go).
//
// Exit codes: 0 success, 1 failure, 2 usage error, 3 not found, 4 a check found problems.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/pcx"
)

// Exit codes scripts can rely on.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitFindings = 4 // a check ran and found what it looks for (webhooks check-secrets)
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// command is one pcxctl subcommand.
type command struct {
	name    string // "keys create"
	summary string
	run     func(ctx context.Context, c *cli, args []string) error
	output  output
}

// output is what a command prints, so that a test holds every reader to --json (views.go).
type output int

const (
	_            output = iota // unset: TestCommandTable fails, every command must say
	printsRead                 // what it read (a list, a record, a check's findings): takes --json
	printsChange               // what it changed
	// printsSecret: what it made, and a secret alone on the last line, its only showing. No
	// --json: `| tail -n1` already takes the secret alone, and a JSON document (a shell history
	// of `| jq`, a CI log) is where a secret would be kept; so no JSON output ever holds one.
	printsSecret
	printsNothing // probe: its exit code is the answer
)

// cli carries what commands share.
type cli struct {
	environ []string
	stdout  io.Writer
	stderr  io.Writer
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"keys create", "create an API key for an organisation and user; the key is the last line of output", keysCreate, printsSecret},
		{"keys list", "list an organisation's API keys, newest first", keysList, printsRead},
		{"keys revoke", "revoke an organisation's API key by prefix", keysRevoke, printsChange},
		{"keys activate", "re-activate a revoked, unexpired API key by prefix", keysActivate, printsChange},
		{"keys pepper-versions", "count API keys per APIKEY_PEPPERS version, before retiring one", keysPepperVersions, printsRead},
		{"audit list", "list an organisation's audit log, newest first, by action, target and time", auditList, printsRead},
		{"webhooks list", "list an organisation's webhook endpoints", webhooksList, printsRead},
		{"webhooks show", "show an endpoint: URL, status, subscription, health", webhooksShow, printsRead},
		{"webhooks disable", "disable an endpoint (it receives nothing until enabled)", webhooksDisable, printsChange},
		{"webhooks enable", "enable a disabled endpoint", webhooksEnable, printsChange},
		{"webhooks delete", "delete an endpoint", webhooksDelete, printsChange},
		{"webhooks rotate-secret", "give an endpoint a new signing secret (the last line of output)", webhooksRotateSecret, printsSecret},
		{"webhooks deliveries", "list an endpoint's deliveries, newest first, by status and time", webhooksDeliveries, printsRead},
		{"webhooks recover", "deliver an endpoint the events of a window it did not receive", webhooksRecover, printsChange},
		{"webhooks check-secrets", "find endpoints sealed under a WEBHOOK_SECRETS_KEYS version not configured", webhooksCheckSecrets, printsRead},
		{"events list", "list an organisation's events, newest first, by type and time", eventsList, printsRead},
		{"events show", "show an event and the state of each of its deliveries", eventsShow, printsRead},
		{"events replay", "deliver an event again to its organisation's endpoints", eventsReplay, printsChange},
		{"table create", "create the DynamoDB table if it does not exist", tableCreate, printsChange},
		{"probe", "GET a URL and exit 0 on a 2xx (container health checks)", probe, printsNothing},
		{"version", "print pcxctl's version and Go version", version, printsRead},
	}
}

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	c := &cli{environ: environ, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, cmd := range commands() {
		words := strings.Fields(cmd.name)
		if len(args) < len(words) || !equal(args[:len(words)], words) {
			continue
		}
		// Every change a command makes is audited as the operator's.
		octx := pcx.WithOrigin(ctx, pcx.Origin{Actor: pcx.Actor{Operator: pcx.OperatorPCXCtl}})
		err := cmd.run(octx, c, args[len(words):])
		var ue usageError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "pcxctl %s: %s\n", cmd.name, ue.msg)
			return exitUsage
		case errors.Is(err, errNotFound):
			fmt.Fprintf(stderr, "pcxctl %s: %v\n", cmd.name, err)
			return exitNotFound
		case errors.Is(err, errFindings):
			fmt.Fprintf(stderr, "pcxctl %s: %v\n", cmd.name, err)
			return exitFindings
		default:
			fmt.Fprintf(stderr, "pcxctl %s: %v\n", cmd.name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(stderr, "pcxctl: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func version(_ context.Context, c *cli, args []string) error {
	fs := newFlags(c, "version", "", "Print pcxctl's version (set at build time; for go run, the VCS revision) and Go version.")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(c.stdout, versionView{Version: app.BuildVersion(), GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH})
	}
	fmt.Fprintf(c.stdout, "pcxctl %s %s %s/%s\n", app.BuildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: pcxctl <command> [flags]   (pcxctl <command> --help for its flags)")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-22s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration comes from the environment and PCX_ENV_FILE (default .run/pcx.env).")
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 usage error, 3 not found, 4 a check found problems.")
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// newFlags returns a flag set whose usage goes to the command's stdout on --help; operands names
// the command's arguments for the usage line ("" for none). The flag package's own error lines
// are discarded: run prints each usage error once, on stderr.
func newFlags(c *cli, name, operands, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("pcxctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	usages[fs] = func() {
		fmt.Fprintf(c.stdout, "usage: pcxctl %s [flags] %s\n\n%s\n\nflags:\n", name, operands, summary)
		fs.SetOutput(c.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// usages prints each flag set's --help (one process runs one command: it never grows past one).
var usages = map[*flag.FlagSet]func(){}

// parse parses flags before, between and after the operands (as operators expect: `pcxctl events
// show evt_… --json`; everything after "--" is an operand), turning bad flags into usage errors,
// and wants exactly nargs operands, which fs.Args then holds.
func parse(fs *flag.FlagSet, args []string, nargs int) error {
	var operands []string
	rest := args
	if i := slices.Index(args, "--"); i >= 0 {
		rest, operands = args[:i], slices.Clone(args[i+1:])
	}
	var found []string
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usages[fs]()
				return err
			}
			return usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		found = append(found, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	operands = append(found, operands...)
	if err := fs.Parse(append([]string{"--"}, operands...)); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != nargs {
		return usageError{fmt.Sprintf("want %d argument(s), got %d", nargs, fs.NArg())}
	}
	return nil
}

// required checks flags that must be given, named in order.
func required(nameValue ...string) error {
	for i := 0; i+1 < len(nameValue); i += 2 {
		if nameValue[i+1] == "" {
			return usageError{"--" + nameValue[i] + " is required"}
		}
	}
	return nil
}
