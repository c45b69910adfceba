package topology

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// SlotCount is the number of hash slots in a Redis Cluster.
const SlotCount = 16384

const slotWords = SlotCount / 64

// SlotSet is a set of hash slots stored as a fixed bitmap. The zero value is
// the empty set; SlotSet is a value type and copies are independent.
type SlotSet struct {
	w [slotWords]uint64
}

// SlotRange is an inclusive range of slots, Start <= End.
type SlotRange struct {
	Start int
	End   int
}

// Len returns the number of slots in the range.
func (r SlotRange) Len() int { return r.End - r.Start + 1 }

// String renders the range as "a-b", or "a" when it holds one slot.
func (r SlotRange) String() string {
	if r.Start == r.End {
		return strconv.Itoa(r.Start)
	}
	return strconv.Itoa(r.Start) + "-" + strconv.Itoa(r.End)
}

// ValidSlot reports whether s is a hash slot number.
func ValidSlot(s int) bool { return s >= 0 && s < SlotCount }

// AllSlots returns the set of every hash slot.
func AllSlots() SlotSet {
	var s SlotSet
	for i := range s.w {
		s.w[i] = ^uint64(0)
	}
	return s
}

// NewSlotSet returns a set holding the given slots. It panics on a slot out
// of range, which is a programming error.
func NewSlotSet(slots ...int) SlotSet {
	var s SlotSet
	for _, x := range slots {
		s.Add(x)
	}
	return s
}

// RangeSet returns the set of slots lo..hi inclusive.
func RangeSet(lo, hi int) SlotSet {
	var s SlotSet
	s.AddRange(lo, hi)
	return s
}

func mustSlot(x int) {
	if !ValidSlot(x) {
		panic(fmt.Sprintf("topology: slot %d out of range", x))
	}
}

// Add puts slot x in the set.
func (s *SlotSet) Add(x int) {
	mustSlot(x)
	s.w[x>>6] |= 1 << (uint(x) & 63)
}

// AddRange puts slots lo..hi inclusive in the set.
func (s *SlotSet) AddRange(lo, hi int) {
	mustSlot(lo)
	mustSlot(hi)
	for x := lo; x <= hi; x++ {
		s.w[x>>6] |= 1 << (uint(x) & 63)
	}
}

// Remove takes slot x out of the set.
func (s *SlotSet) Remove(x int) {
	mustSlot(x)
	s.w[x>>6] &^= 1 << (uint(x) & 63)
}

// Has reports whether slot x is in the set.
func (s SlotSet) Has(x int) bool {
	if !ValidSlot(x) {
		return false
	}
	return s.w[x>>6]&(1<<(uint(x)&63)) != 0
}

// Count returns the number of slots in the set.
func (s SlotSet) Count() int {
	n := 0
	for _, w := range s.w {
		n += bits.OnesCount64(w)
	}
	return n
}

// IsEmpty reports whether the set holds no slot.
func (s SlotSet) IsEmpty() bool {
	for _, w := range s.w {
		if w != 0 {
			return false
		}
	}
	return true
}

// IsFull reports whether the set holds every slot.
func (s SlotSet) IsFull() bool { return s.Count() == SlotCount }

// Union returns s ∪ o.
func (s SlotSet) Union(o SlotSet) SlotSet {
	for i := range s.w {
		s.w[i] |= o.w[i]
	}
	return s
}

// Intersect returns s ∩ o.
func (s SlotSet) Intersect(o SlotSet) SlotSet {
	for i := range s.w {
		s.w[i] &= o.w[i]
	}
	return s
}

// Difference returns s \ o.
func (s SlotSet) Difference(o SlotSet) SlotSet {
	for i := range s.w {
		s.w[i] &^= o.w[i]
	}
	return s
}

// Complement returns every slot not in s.
func (s SlotSet) Complement() SlotSet {
	for i := range s.w {
		s.w[i] = ^s.w[i]
	}
	return s
}

// Overlaps reports whether s and o share a slot.
func (s SlotSet) Overlaps(o SlotSet) bool {
	for i := range s.w {
		if s.w[i]&o.w[i] != 0 {
			return true
		}
	}
	return false
}

// Equal reports whether s and o hold the same slots.
func (s SlotSet) Equal(o SlotSet) bool { return s.w == o.w }

// Slots returns the slots in ascending order.
func (s SlotSet) Slots() []int {
	out := make([]int, 0, s.Count())
	s.Each(func(x int) bool { out = append(out, x); return true })
	return out
}

// Each calls fn for every slot in ascending order until fn returns false.
func (s SlotSet) Each(fn func(slot int) bool) {
	for i, w := range s.w {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			if !fn(i*64 + b) {
				return
			}
			w &= w - 1
		}
	}
}

// First returns the lowest slot in the set, or -1 when it is empty.
func (s SlotSet) First() int {
	for i, w := range s.w {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

// TakeLowest returns the set of the n lowest slots of s (all of s when it
// holds fewer than n).
func (s SlotSet) TakeLowest(n int) SlotSet {
	var out SlotSet
	s.Each(func(x int) bool {
		if n <= 0 {
			return false
		}
		out.Add(x)
		n--
		return true
	})
	return out
}

// TakeHighest returns the set of the n highest slots of s (all of s when it
// holds fewer than n).
func (s SlotSet) TakeHighest(n int) SlotSet {
	var out SlotSet
	for x := SlotCount - 1; x >= 0 && n > 0; x-- {
		if s.Has(x) {
			out.Add(x)
			n--
		}
	}
	return out
}

// Ranges returns the set as maximal inclusive ranges in ascending order.
func (s SlotSet) Ranges() []SlotRange {
	var out []SlotRange
	start, prev := -1, -2
	s.Each(func(x int) bool {
		if x != prev+1 {
			if start >= 0 {
				out = append(out, SlotRange{start, prev})
			}
			start = x
		}
		prev = x
		return true
	})
	if start >= 0 {
		out = append(out, SlotRange{start, prev})
	}
	return out
}

// String renders the set as comma-separated ranges, e.g. "0-5460,5462".
// The empty set renders as "".
func (s SlotSet) String() string {
	rs := s.Ranges()
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// ParseSlotSet parses the form String produces (ranges separated by commas or
// spaces). The empty string is the empty set.
func ParseSlotSet(text string) (SlotSet, error) {
	var s SlotSet
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' }) {
		r, err := parseSlotRange(f)
		if err != nil {
			return SlotSet{}, err
		}
		s.AddRange(r.Start, r.End)
	}
	return s, nil
}

func parseSlotRange(f string) (SlotRange, error) {
	lo, hi, isRange := strings.Cut(f, "-")
	a, err := strconv.Atoi(lo)
	if err != nil || !ValidSlot(a) {
		return SlotRange{}, fmt.Errorf("invalid slot %q", f)
	}
	b := a
	if isRange {
		b, err = strconv.Atoi(hi)
		if err != nil || !ValidSlot(b) || b < a {
			return SlotRange{}, fmt.Errorf("invalid slot range %q", f)
		}
	}
	return SlotRange{a, b}, nil
}
