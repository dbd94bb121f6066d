package cli

import (
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

func TestDoctorLimitsCheck(t *testing.T) {
	cfg := config.Default()
	if c := limitsCheck(cfg, 20000); c.Status != "ok" || !strings.Contains(c.Message, "capped at 256 (32 per address)") {
		t.Errorf("defaults: %+v", c)
	}
	// A small open-file limit lowers the cap: warn with the fix.
	if c := limitsCheck(cfg, 256); c.Status != "warn" || !strings.Contains(c.Message, "capped at 64") || !strings.Contains(c.Hint, "LimitNOFILE") {
		t.Errorf("nofile 256: %+v", c)
	}
	// On the network, one address must not be able to take every slot.
	cfg.Gateway.Bind = "lan"
	cfg.Gateway.Limits.MaxPreAuthConnsPerAddr = cfg.Gateway.Limits.MaxPreAuthConns
	if c := limitsCheck(cfg, 20000); c.Status != "warn" || !strings.Contains(c.Hint, "maxPreAuthConnsPerAddr") {
		t.Errorf("lan, per-address = global: %+v", c)
	}
}
