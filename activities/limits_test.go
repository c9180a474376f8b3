package activities

import (
	"testing"

	"github.com/pcx/publicservice/internal/config"
)

// The configuration refuses a WEBHOOK_TIMEOUT that does not fit in an attempt, reckoning with
// config.SlotWait: it must be the activities' real wait for a send slot.
func TestSlotBudgetMatchesConfig(t *testing.T) {
	if slotBudget != config.SlotWait {
		t.Fatalf("slotBudget %s, config.SlotWait %s: change them together", slotBudget, config.SlotWait)
	}
}
