package topology

import "testing"

func TestKeySlotMatchesRedisClusterKeyslot(t *testing.T) {
	// Values from CLUSTER KEYSLOT on redis-server 7.
	cases := []struct {
		key  string
		slot int
	}{
		{"foo", 12182},
		{"bar", 5061},
		{"", 0},
		{"123456789", 12739}, // CRC16/XMODEM check value 0x31C3
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", 8363},    // empty first tag: the whole key is hashed
		{"foo{{bar}}zap", 4015}, // tag is "{bar"
		{"foo{bar}{zap}", 5061}, // first tag only
	}
	for _, c := range cases {
		if got := KeySlot(c.key); got != c.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", c.key, got, c.slot)
		}
	}
}
