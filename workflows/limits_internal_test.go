package workflows

import (
	"testing"

	"github.com/pcx/publicservice/internal/config"
)

// The configuration refuses a WEBHOOK_TIMEOUT that does not fit in an attempt, reckoning with
// config.AttemptTimeout: it must be the attempts' real timeouts.
func TestAttemptTimeoutsMatchConfig(t *testing.T) {
	if deliverOptions.StartToCloseTimeout != config.AttemptTimeout || batchOptions.StartToCloseTimeout != config.AttemptTimeout {
		t.Fatalf("Deliver StartToClose %s, DeliverBatch StartToClose %s; config.AttemptTimeout is %s: change them together",
			deliverOptions.StartToCloseTimeout, batchOptions.StartToCloseTimeout, config.AttemptTimeout)
	}
}
