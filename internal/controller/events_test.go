package controller

import (
	"regexp"
	"testing"

	redisv1alpha1 "github.com/redkube/redkube/api/v1alpha1"
	"github.com/redkube/redkube/pkg/heal"
)

// camelCase is what the API server accepts as an event reason and what
// kubectl users expect of one.
var camelCase = regexp.MustCompile(`^[A-Z][A-Za-z]+$`)

func TestEveryTopologyChangeHasAnEventReasonAndAction(t *testing.T) {
	seen := map[string]heal.Kind{}
	for _, k := range heal.Kinds() {
		if !camelCase.MatchString(k.EventReason()) {
			t.Errorf("kind %s: event reason %q is not CamelCase", k, k.EventReason())
		}
		if !camelCase.MatchString(k.Action()) {
			t.Errorf("kind %s: action %q is not CamelCase", k, k.Action())
		}
		if other, dup := seen[k.EventReason()]; dup {
			t.Errorf("kinds %s and %s share the event reason %q", other, k, k.EventReason())
		}
		seen[k.EventReason()] = k
	}
	if seen[EventFailedOver] != heal.Failover {
		t.Errorf("EventFailedOver %q is not the failover's event reason", EventFailedOver)
	}
}

func TestEveryDecisionReasonIsAnAPIReason(t *testing.T) {
	for core, api := range map[string]redisv1alpha1.ConditionReason{
		heal.ReasonBootstrapping:     redisv1alpha1.ReasonBootstrapping,
		heal.ReasonFailingOver:       redisv1alpha1.ReasonFailingOver,
		heal.ReasonRejoiningNodes:    redisv1alpha1.ReasonRejoiningNodes,
		heal.ReasonForgettingNodes:   redisv1alpha1.ReasonForgettingNodes,
		heal.ReasonAttachingReplicas: redisv1alpha1.ReasonAttachingReplicas,
		heal.ReasonRepairingSlots:    redisv1alpha1.ReasonRepairingSlots,
		heal.ReasonMovingReplicas:    redisv1alpha1.ReasonMovingReplicas,
		heal.ReasonResharding:        redisv1alpha1.ReasonResharding,
		heal.ReasonRemovingShards:    redisv1alpha1.ReasonRemovingShards,
		heal.ReasonUpdatingPods:      redisv1alpha1.ReasonUpdatingPods,
		heal.ReasonAnnouncing:        redisv1alpha1.ReasonAnnouncingEndpoints,
	} {
		if core != api.String() {
			t.Errorf("core reason %q is not the API's %q", core, api)
		}
	}
}
