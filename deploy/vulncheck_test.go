package deploy_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The pinned vulnerability database's age is its vulndb commit's date; past VULNDB_MAX_AGE_DAYS,
// make vulncheck fails before it builds anything.
func TestVulncheckDatabaseAge(t *testing.T) {
	pseudo := func(age time.Duration) string {
		return "v0.0.0-" + time.Now().UTC().Add(-age).Format("20060102150405") + "-e22db6528018"
	}
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		version string
		maxAge  string // VULNDB_MAX_AGE_DAYS; empty: the default
		latest  string // what the module proxy calls the newest; empty: newer than version
		ok      bool
		want    string
	}{
		{"fresh", pseudo(2*day + time.Hour), "", "", true, "2 days old (limit VULNDB_MAX_AGE_DAYS=30)"},
		{"at the default limit", pseudo(30*day + time.Hour), "", "", true, "30 days old"},
		{"past the default limit", pseudo(31*day + time.Hour), "", "", false, "the vulnerability database is 31 days old, older than 30"},
		{"a raised limit", pseudo(31*day + time.Hour), "40", "", true, "31 days old (limit VULNDB_MAX_AGE_DAYS=40)"},
		{"the refresh command", pseudo(400 * day), "", "", false, "to the newest pseudo-version, v0.0.0-20991231000000-000000000000"},
		{"old but the newest served", pseudo(31*day + time.Hour), "", "same", true, "WARNING: the vulnerability database is 31 days old, older than 30, but it is the newest the module proxy serves"},
		{"a tag has no date", "v1.2.3", "", "", false, "is not a pseudo-version"},
		{"a bad limit", pseudo(day), "a month", "", false, "VULNDB_MAX_AGE_DAYS=a month: want a number of days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("bash", "../scripts/vulncheck.sh", "--check-age")
			latest := "v0.0.0-20991231000000-000000000000"
			if tt.latest == "same" {
				latest = tt.version
			}
			cmd.Env = append(os.Environ(), "VULNDB_VERSION="+tt.version, "VULNDB_MAX_AGE_DAYS="+tt.maxAge, "VULNDB_LATEST="+latest)
			out, err := cmd.CombinedOutput()
			if (err == nil) != tt.ok {
				t.Errorf("exit: got %v, want ok=%v\n%s", err, tt.ok, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out)
			}
		})
	}
}
