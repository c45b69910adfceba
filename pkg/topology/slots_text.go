package topology

// MarshalText renders the set as String does ("0-5460,5462"), so a SlotSet
// appears as a compact string in JSON.
func (s SlotSet) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses the form MarshalText produces.
func (s *SlotSet) UnmarshalText(text []byte) error {
	v, err := ParseSlotSet(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
