package deploy_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A machine whose every prerequisite of `make run` is new enough: the version lines the real
// tools print.
var goodTools = map[string]string{
	"uname":   "Linux",
	"go":      "go version go1.26.8 linux/amd64",
	"java":    `openjdk version "17.0.15" 2025-04-15` + "\nOpenJDK Runtime Environment (build 17.0.15+6)",
	"npm":     "11.19.1",
	"bash":    "GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)",
	"timeout": "timeout (GNU coreutils) 9.1",
	"base64":  "base64 (GNU coreutils) 9.1",
}

// runPrereqs runs scripts/prereqs.sh with a PATH that holds only fake commands, each printing
// its lines of tools (java on stderr, as the real one does); a tool mapped to "" is absent.
func runPrereqs(t *testing.T, tools map[string]string) (string, error) {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run scripts/prereqs.sh with")
	}
	dir := t.TempDir()
	for name, out := range tools {
		if out == "" {
			continue
		}
		redirect := ""
		if name == "java" {
			redirect = " >&2"
		}
		// printf is a builtin of sh: the fake needs nothing on PATH.
		script := "#!/bin/sh\nprintf '%s\\n' '" + strings.ReplaceAll(out, "'", `'\''`) + "'" + redirect + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bash, "../scripts/prereqs.sh")
	cmd.Env = []string{"PATH=" + dir, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func with(changes map[string]string) map[string]string {
	tools := map[string]string{}
	for k, v := range goodTools {
		tools[k] = v
	}
	for k, v := range changes {
		tools[k] = v
	}
	return tools
}

func TestPrereqsAllPresentPrintsEachVersion(t *testing.T) {
	out, err := runPrereqs(t, goodTools)
	if err != nil {
		t.Fatalf("prereqs.sh failed on a complete machine: %v\n%s", err, out)
	}
	for _, want := range []string{"go         1.26.8", "java       17.0.15", "npm        11.19.1", "bash       5.2.15", "coreutils  9.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPrereqsReportProblems(t *testing.T) {
	tests := []struct {
		name    string
		tools   map[string]string
		want    []string // in the output
		notWant []string
	}{
		{
			name:    "java 11",
			tools:   with(map[string]string{"java": `openjdk version "11.0.22" 2024-01-16`}),
			want:    []string{"java: found 'openjdk version \"11.0.22\" 2024-01-16' (Java 11); install Java 17 or newer to run DynamoDB Local", "apt-get install openjdk-17-jre-headless"},
			notWant: []string{"  - go:", "  - npm:", "  - bash:", "  - timeout:", "  - base64:"},
		},
		{
			name:  "java 8 in the old numbering",
			tools: with(map[string]string{"java": `java version "1.8.0_402"`}),
			want:  []string{"(Java 8); install Java 17 or newer"},
		},
		{
			name: "macOS as shipped",
			tools: with(map[string]string{
				"uname":   "Darwin",
				"bash":    "GNU bash, version 3.2.57(1)-release (arm64-apple-darwin23)",
				"timeout": "",
				"base64":  "base64: unrecognized option `--version'",
				"java":    "",
			}),
			want: []string{
				"bash: found 'GNU bash, version 3.2.57(1)-release (arm64-apple-darwin23)'; make run needs bash 5 or newer on PATH (brew install bash",
				"timeout: make run needs GNU coreutils' timeout (brew install coreutils",
				"base64: found 'base64: unrecognized option `--version'', not GNU coreutils",
				"java: install Java 17 or newer to run DynamoDB Local (brew install openjdk@17)",
			},
		},
		{
			name:  "nothing installed: every problem at once",
			tools: map[string]string{"uname": "Linux"},
			want:  []string{"  - go: install Go 1.21 or newer", "  - java: install Java 17", "  - npm: install Node.js with npm", "  - bash: make run needs bash 5 or newer on PATH", "  - timeout:", "  - base64:"},
		},
		{
			name:  "go too old to fetch a toolchain",
			tools: with(map[string]string{"go": "go version go1.20.14 linux/amd64"}),
			want:  []string{"go: found 'go version go1.20.14 linux/amd64'; install Go 1.21 or newer"},
		},
		{
			name:  "another system",
			tools: with(map[string]string{"uname": "FreeBSD"}),
			want:  []string{"system: FreeBSD is not supported; make run needs Linux or macOS"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runPrereqs(t, tt.tools)
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("exit: got %v, want status 1\n%s", err, out)
			}
			if !strings.Contains(out, "make run cannot start; fix these first:") {
				t.Errorf("output lacks the summary line:\n%s", out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			for _, not := range tt.notWant {
				if strings.Contains(out, not) {
					t.Errorf("output reports %q, which is fine:\n%s", not, out)
				}
			}
		})
	}
}
