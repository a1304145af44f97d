package main

import (
	"context"
	"errors"
	"reflect"

	"github.com/seesawd/seesawd/pkg/config"
	"github.com/seesawd/seesawd/pkg/vrrp"
)

// vrrpAdapter gives the engine the context-taking AdjustPriority.
type vrrpAdapter struct{ n *vrrp.Node }

func (a vrrpAdapter) AdjustPriority(ctx context.Context, instance string, delta int) error {
	return a.n.AdjustPriority(instance, delta)
}

func (a vrrpAdapter) Events() <-chan vrrp.Event { return a.n.Events() }

// applyVRRP applies the VRRP part of a reload.
func (d *seesawd) applyVRRP(ctx context.Context, cfg *config.Config) error {
	oi, og := d.cfg.VRRPInstances()
	ni, ng := cfg.VRRPInstances()
	if reflect.DeepEqual(oi, ni) && reflect.DeepEqual(og, ng) {
		return nil
	}
	return errors.New("the vrrp section changed: live VRRP reconfiguration is not available yet, restart to apply it")
}
