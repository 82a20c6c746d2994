// Package yamlconf decodes YAML configuration files strictly: unknown keys
// are errors, ${VAR} and ${VAR:-default} are expanded in every string, and
// every problem, of syntax or of validation, names its line and key.
//
// It backs the configuration files of `fbadmin listen` and `fbadmin serve`.
package yamlconf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/fbadmin/fbadmin/internal/errs"
)

// ReadFile reads a config file; a missing file is an errs.ErrInvalid error
// that says so (hint names where a sample is).
func ReadFile(path, hint string) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errs.New(errs.ErrInvalid, "read config", path, "no such file (%s)", hint)
		}
		return nil, errs.Wrap(err, "read config", path)
	}
	return src, nil
}

// Decode decodes src into out (a pointer to a struct with yaml tags),
// strictly, expands environment variables in its strings, then calls
// validate, which reports problems with bad(path, format, args...), where
// path is a YAML path such as "$.rules[2].match". setDefaults, when not
// nil, runs between expansion and validation. All problems are returned
// together in one errs.ErrInvalid error naming the file (name) and each
// problem's line, one problem a line ("  - line 3: sinks[0].url: ...").
// A key is reported once: a variable that is not set is not also reported
// as the value it left empty.
func Decode(name string, src []byte, out any, setDefaults func(), validate func(bad func(path, format string, args ...any))) error {
	if err := yaml.UnmarshalWithOptions(src, out, yaml.Strict()); err != nil {
		return errs.New(errs.ErrInvalid, "config", name, "%s", withLine(src, yaml.FormatError(err, false, true)))
	}
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		return errs.New(errs.ErrInvalid, "config", name, "%v", err)
	}
	loc := locator{file: file}
	var problems []string
	reported := map[string]bool{} // YAML paths with a problem
	add := func(path, msg string) {
		if reported[path] {
			return
		}
		reported[path] = true
		problems = append(problems, loc.at(path)+msg)
	}
	expandEnv(reflect.ValueOf(out).Elem(), "$", add)
	if setDefaults != nil {
		setDefaults()
	}
	if validate != nil {
		validate(func(path, format string, args ...any) {
			add(path, fmt.Sprintf(format, args...))
		})
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return errs.New(errs.ErrInvalid, "config", name, "%s", problems[0])
	}
	return errs.New(errs.ErrInvalid, "config", name, "%d problems:\n  - %s", len(problems), strings.Join(problems, "\n  - "))
}

var quotedRE = regexp.MustCompile(`"([^"]+)"`)

// withLine adds the line to a decoding error that lacks a position (the
// errors of values such as sizes and durations), by finding the value it
// quotes in the source.
func withLine(src []byte, msg string) string {
	if strings.HasPrefix(msg, "[") {
		return msg
	}
	m := quotedRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	for i, line := range strings.Split(string(src), "\n") {
		if k := strings.Index(line, ":"); k >= 0 && strings.Contains(line[k:], m[1]) && !strings.HasPrefix(strings.TrimSpace(line), "#") {
			return fmt.Sprintf("line %d: %s: %s", i+1, strings.TrimSpace(line[:k]), msg)
		}
	}
	return msg
}

// locator finds the line of a YAML path such as "$.sinks[1].webhook.url",
// falling back to the nearest ancestor present in the file.
type locator struct{ file *ast.File }

func (l locator) at(path string) string {
	for p := path; p != "$" && p != ""; p = parentPath(p) {
		yp, err := yaml.PathString(p)
		if err != nil {
			continue
		}
		n, err := yp.FilterFile(l.file)
		if err == nil && n != nil && n.GetToken() != nil {
			return fmt.Sprintf("line %d: %s: ", n.GetToken().Position.Line, strings.TrimPrefix(path, "$."))
		}
	}
	return strings.TrimPrefix(path, "$.") + ": "
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return "$"
	}
	return p[:i]
}

var envRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandEnv replaces ${VAR} and ${VAR:-default} in every string of v ($$
// is a literal $). An unset variable without a default is reported.
func expandEnv(v reflect.Value, path string, report func(path, msg string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			expandEnv(v.Elem(), path, report)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if !f.IsExported() || tag == "" {
				continue
			}
			expandEnv(v.Field(i), path+"."+tag, report)
		}
	case reflect.Slice:
		for i := range v.Len() {
			expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", path, i), report)
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.String {
			return
		}
		for _, k := range v.MapKeys() {
			s := expandString(v.MapIndex(k).String(), path+"."+k.String(), report)
			v.SetMapIndex(k, reflect.ValueOf(s).Convert(v.Type().Elem()))
		}
	case reflect.String:
		v.SetString(expandString(v.String(), path, report))
	}
}

func expandString(s, path string, report func(path, msg string)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	return envRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := envRE.FindStringSubmatch(m)
		if val, ok := os.LookupEnv(sub[1]); ok && val != "" {
			return val
		}
		if sub[2] != "" {
			return sub[2][2:]
		}
		report(path, fmt.Sprintf("environment variable %s is not set (use ${%s:-default} for a default)", sub[1], sub[1]))
		return ""
	})
}

// ByteSize is a size in bytes, written as a number or with a unit: 512KiB,
// 100MB, 1GiB.
type ByteSize int64

var sizeRE = regexp.MustCompile(`^\s*(\d+)\s*([KMGT]?I?B?)\s*$`)

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(text []byte) error {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(string(text)))
	if m == nil {
		return fmt.Errorf("size %q: want a number of bytes or a number with KB, MB, GB, KiB, MiB or GiB", text)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return fmt.Errorf("size %q: %v", text, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12,
		"KI": 1 << 10, "KIB": 1 << 10, "MI": 1 << 20, "MIB": 1 << 20, "GI": 1 << 30, "GIB": 1 << 30, "TI": 1 << 40, "TIB": 1 << 40}[m[2]]
	if mult == 0 {
		return fmt.Errorf("size %q: unknown unit %q", text, m[2])
	}
	*b = ByteSize(n * mult)
	return nil
}
