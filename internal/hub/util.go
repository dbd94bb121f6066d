package hub

import (
	"encoding/json"

	"github.com/talonclaw/talon/internal/skills"
)

func findingsJSON(f []skills.Finding) string {
	if f == nil {
		f = []skills.Finding{}
	}
	b, _ := json.Marshal(f)
	return string(b)
}
