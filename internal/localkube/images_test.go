package localkube

import (
	"maps"
	"testing"
)

func TestProjectImagesRunTheOperatorImageTheExporterAndRcctlFromTheFolder(t *testing.T) {
	images, commands := ProjectImages("/opt/redkube/bin")
	if want := map[string]string{"redkube-operator": "/opt/redkube/bin/manager"}; !maps.Equal(images, want) {
		t.Errorf("images = %v, want %v", images, want)
	}
	if want := map[string]string{"redkube-exporter": "/opt/redkube/bin/redkube-exporter", "rcctl": "/opt/redkube/bin/rcctl"}; !maps.Equal(commands, want) {
		t.Errorf("commands = %v, want %v", commands, want)
	}
}

func TestMergeMissing(t *testing.T) {
	cases := []struct {
		name        string
		base, extra map[string]string
		want        map[string]string
	}{
		{"adds what the agent's own map lacks", map[string]string{"redis": "/a/redis-server"}, map[string]string{"redkube-operator": "/b/manager"},
			map[string]string{"redis": "/a/redis-server", "redkube-operator": "/b/manager"}},
		{"keeps the agent's own entry for the same image", map[string]string{"redkube-operator": "/mine/manager"}, map[string]string{"redkube-operator": "/b/manager"},
			map[string]string{"redkube-operator": "/mine/manager"}},
		{"fills an empty map", nil, map[string]string{"redkube-exporter": "/b/redkube-exporter"},
			map[string]string{"redkube-exporter": "/b/redkube-exporter"}},
		{"leaves the map alone with nothing to add", map[string]string{"redis": "x"}, nil, map[string]string{"redis": "x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := maps.Clone(c.base)
			if got := mergeMissing(c.base, c.extra); !maps.Equal(got, c.want) {
				t.Errorf("mergeMissing = %v, want %v", got, c.want)
			}
			if !maps.Equal(c.base, before) {
				t.Errorf("base changed to %v", c.base)
			}
		})
	}
}
