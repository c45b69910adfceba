package v1alpha1

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ConfigRule is one CEL rule on spec.config, as it appears in the CRD's
// x-kubernetes-validations.
type ConfigRule struct {
	// Rule is the CEL expression that must hold.
	Rule string
	// MessageExpression is the CEL expression of the message.
	MessageExpression string
}

// ConfigRules renders the CEL rules on spec.config from ConfigDirectives
// and ForbiddenConfigKeys. hack/configgen writes them as kubebuilder
// markers on RedisConfig (zz_generated.configrules.go); a test checks the
// CRD holds exactly these. Each rule names the first offending key it
// finds (CEL visits map keys in no set order).
func ConfigRules() []ConfigRule {
	owned := celList(ForbiddenConfigKeys)
	allowed := make([]string, 0, len(ConfigDirectives))
	aliases := map[string]string{}
	for _, d := range ConfigDirectives {
		allowed = append(allowed, d.Name)
		if d.AliasOf != "" {
			aliases[d.Name] = d.AliasOf
		}
	}
	allowedList := celList(allowed)
	aliasMap := celStringMap(aliases)
	canon := func(x string) string {
		return "(" + x + " in " + aliasMap + " ? " + aliasMap + "[" + x + "] : " + x + ")"
	}
	const lk = "k.lowerAscii()"

	rules := []ConfigRule{
		keyRule("!("+lk+" in "+owned+")", msgOwned),
		keyRule(lk+" in "+allowedList+" || "+lk+" in "+owned, msgNotAllowed),
		keyRule("self.filter(j, "+canon("j.lowerAscii()")+" == "+canon(lk)+").size() == 1", msgDuplicate),
		keyRule("self[k] == '\"\"' || !self[k].matches("+celQuote(reBadChars)+")", msgBadChars),
	}

	// One rule per kind: keys of that kind (map literal key -> params)
	// must hold good.
	kinds := []struct {
		kind ConfigKind
		// good is the predicate on the value; {K} is the lower-case key,
		// {V} the value, {P} the kind's map literal.
		good string
		// param renders the map literal's value for d.
		param func(ConfigDirective) string
	}{
		{KindYesNo, "{V}.lowerAscii() in ['yes', 'no']", nil},
		{KindInteger, "{V}.matches(" + celQuote(reInteger) + ") && int({V}) >= {P}[{K}][0] && int({V}) <= {P}[{K}][1]",
			func(d ConfigDirective) string { return fmt.Sprintf("[%d, %d]", d.Min, d.Max) }},
		{KindMemory, "{V}.lowerAscii().matches(" + celQuote(reMemory) + ") && " +
			"int({V}.find('^[0-9]+')) * " + celUnits() + "['x' + {V}.lowerAscii().find('[a-z]*$')] >= {P}[{K}][0] && " +
			"int({V}.find('^[0-9]+')) * " + celUnits() + "['x' + {V}.lowerAscii().find('[a-z]*$')] <= {P}[{K}][1]",
			func(d ConfigDirective) string { return fmt.Sprintf("[%d, %d]", d.Min, d.Max) }},
		{KindMemoryOrPercent, "{V}.matches(" + celQuote(rePercent) + ") || {V}.lowerAscii().matches(" + celQuote(reMemory) + ")", nil},
		{KindEnum, "{V}.lowerAscii() in {P}[{K}]", func(d ConfigDirective) string { return celList(d.Values) }},
		{KindSave, "{V} == '\"\"' || {V}.matches(" + celQuote(reSave) + ")", nil},
		{KindKeyspaceEvents, "{V} == '\"\"' || {V}.matches(" + celQuote(reKeyspace) + ")", nil},
		{KindOutputBufferLimit, "{V}.lowerAscii().matches(" + celQuote(reOBL) + ")", nil},
	}
	for _, kd := range kinds {
		var ds []ConfigDirective
		for _, d := range ConfigDirectives {
			if d.Kind == kd.kind {
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			continue
		}
		members := map[string]string{}
		expect := map[string]string{}
		for _, d := range ds {
			members[d.Name] = "true"
			if kd.param != nil {
				members[d.Name] = kd.param(d)
			}
			expect[d.Name] = d.expectation()
		}
		p := celMap(members)
		good := strings.NewReplacer("{V}", "self[k]", "{K}", lk, "{P}", p).Replace(kd.good)
		bad := "(" + lk + " in " + p + ") && !(" + good + ")"
		rules = append(rules, ConfigRule{
			Rule: "self.all(k, !(" + bad + "))",
			MessageExpression: "self.filter(k, " + bad + ").map(k, 'spec.config: ' + k + ' must be ' + " +
				celStringMap(expect) + "[" + lk + "])[0]",
		})
	}
	return rules
}

// keyRule is a rule that every key satisfies ok, whose message is msg
// (one %s, the key) for the first key that does not.
func keyRule(ok, msg string) ConfigRule {
	before, after, _ := strings.Cut(msg, "%s")
	return ConfigRule{
		Rule:              "self.all(k, " + ok + ")",
		MessageExpression: "'" + celEscape(before) + "' + self.filter(k, !(" + ok + "))[0] + '" + celEscape(after) + "'",
	}
}

// celEscape escapes s for a single-quoted CEL string.
func celEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
}

// celQuote is s as a single-quoted CEL string.
func celQuote(s string) string { return "'" + celEscape(s) + "'" }

// celList is a CEL list literal of strings.
func celList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = celQuote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// celMap is a CEL map literal from string keys to CEL expressions, sorted.
func celMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = celQuote(k) + ": " + m[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// celStringMap is a CEL map literal from strings to strings.
func celStringMap(m map[string]string) string {
	q := make(map[string]string, len(m))
	for k, v := range m {
		q[k] = celQuote(v)
	}
	return celMap(q)
}

// celUnits is the memoryUnits map as a CEL literal, its keys prefixed
// with x: an empty key (two single quotes) would turn into a closing quote once gofmt
// reformats the doc comment the markers live in.
func celUnits() string {
	m := make(map[string]string, len(memoryUnits))
	for k, v := range memoryUnits {
		m["x"+k] = strconv.FormatInt(v, 10)
	}
	return celMap(m)
}
