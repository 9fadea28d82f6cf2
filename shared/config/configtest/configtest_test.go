package configtest

import (
	"reflect"
	"strconv"
	"testing"
	"time"
)

type settings struct {
	Timeout time.Duration
	Retries int
	Proxy   string
	Addr    string
}

// loader reads the variables of the README in testdata as a web BFF would,
// with defaults that may differ from it and a list of what it reads.
func loader(defaults settings, names ...string) Load {
	return func(getenv func(string) string) (any, error) {
		s := defaults
		for _, name := range names {
			v := getenv(name)
			if v == "" {
				continue
			}
			var err error
			switch name {
			case "TIMEOUT":
				s.Timeout, err = time.ParseDuration(v)
			case "RETRIES":
				s.Retries, err = strconv.Atoi(v)
			case "WEB_ADDR", "MOBILE_ADDR":
				s.Addr = v
			default:
				s.Proxy = v
			}
			if err != nil {
				return nil, err
			}
		}
		return s, nil
	}
}

func TestCheck(t *testing.T) {
	good := settings{Timeout: 2 * time.Second, Retries: 3, Addr: ":8080"}
	web := []string{"TIMEOUT", "RETRIES", "PROXY", "WEB_ADDR"}
	tests := []struct {
		name string
		bff  string
		load Load
		want []string
	}{
		{"agrees", "web", loader(good, web...), nil},
		{"the other BFF's table", "mobile", loader(settings{Timeout: 2 * time.Second, Retries: 3, Addr: ":8090"}, "TIMEOUT", "RETRIES", "PROXY", "MOBILE_ADDR"), nil},
		{"reads an undocumented variable", "web", loader(good, append(web, "SECRET")...),
			[]string{"web reads SECRET, which testdata/README.md does not list for it"}},
		{"reads another BFF's variable", "web", loader(good, append(web, "MOBILE_ADDR")...),
			[]string{"web reads MOBILE_ADDR, which testdata/README.md does not list for it"}},
		{"does not read a documented variable", "web", loader(good, "TIMEOUT", "PROXY", "WEB_ADDR"),
			[]string{"testdata/README.md lists RETRIES for web, which does not read it"}},
		{"another default", "web", loader(settings{Timeout: 5 * time.Second, Retries: 3, Addr: ":8080"}, web...),
			[]string{`TIMEOUT: the documented default "2s" is not the code's`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := check("testdata/README.md", tt.bff, tt.load)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got problems %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReadSettings(t *testing.T) {
	rows, err := readSettings("testdata/README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{"TIMEOUT", "2s", "Shared by both:"}, {"RETRIES", "3", "Shared by both:"}, {"PROXY", "", "Shared by both:"},
		{"WEB_ADDR", ":8080", "web only:"}, {"MOBILE_ADDR", ":8090", "mobile only:"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got %+v, want %+v", rows, want)
	}
}
