package yamlconf

import (
	"strings"
	"testing"
)

type testConfig struct {
	Hook struct {
		URL    string `yaml:"url"`
		Secret string `yaml:"secret"`
	} `yaml:"hook"`
	Name string `yaml:"name"`
}

func decodeTest(t *testing.T, src string) error {
	t.Helper()
	var c testConfig
	return Decode("test.yaml", []byte(src), &c, nil, func(bad func(path, format string, args ...any)) {
		if c.Hook.URL == "" {
			bad("$.hook.url", "required")
		}
		if c.Hook.Secret == "" {
			bad("$.hook.secret", "required")
		}
		if c.Name == "" {
			bad("$.name", "required")
		}
	})
}

// Each problem is on its own line, once: a variable that is not set is not
// also reported as the value it left empty.
func TestDecodeProblems(t *testing.T) {
	t.Setenv("YAMLCONF_TEST_UNSET", "")
	err := decodeTest(t, "hook:\n  url: ${YAMLCONF_TEST_UNSET}\n  secret: s\nname: \"\"\n")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	lines := strings.Split(msg, "\n")
	want := []string{
		"config test.yaml: invalid argument: 2 problems:",
		"  - line 2: hook.url: environment variable YAMLCONF_TEST_UNSET is not set (use ${YAMLCONF_TEST_UNSET:-default} for a default)",
		"  - line 4: name: required",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", msg, strings.Join(want, "\n"))
	}

	// one problem: one line
	err = decodeTest(t, "hook:\n  url: ${YAMLCONF_TEST_UNSET}\n  secret: s\nname: n\n")
	if err == nil || strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "YAMLCONF_TEST_UNSET is not set") != 1 {
		t.Errorf("got %v, want one line naming the variable once", err)
	}
	if err := decodeTest(t, "hook:\n  url: u\n  secret: s\nname: n\n"); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
