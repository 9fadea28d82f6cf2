// Package k8s holds the Kubernetes manifests (kustomize bases per BFF and
// overlays); its test builds each as kubectl kustomize does and checks the
// objects a cluster would get.
package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"storefront.dev/shared/config/configtest"
	"storefront.dev/shared/httpserver"
)

// builds are every kustomization a team may apply.
var builds = []string{"base/bff-web", "base/bff-mobile", localOverlay,
	"overlays/production/bff-web", "overlays/production/bff-mobile", "overlays/production"}

// localOverlay runs on a cluster of its own: it must hold everything the
// BFFs call.
const localOverlay = "overlays/local"

// objects is one build's objects, strictly decoded by kind.
type objects struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	ingresses   []*networkingv1.Ingress
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	policies    []*networkingv1.NetworkPolicy
	secrets     []*corev1.Secret
}

func TestManifests(t *testing.T) {
	for _, dir := range builds {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			if len(objs.deployments) == 0 {
				t.Fatal("no Deployment")
			}
			for _, d := range objs.deployments {
				checkPod(t, d)
				if strings.HasPrefix(d.Name, "bff-") {
					checkBFF(t, d, objs)
					checkUpstreams(t, d, objs, reachOf(dir))
				}
			}
			for _, p := range objs.pdbs {
				if p.Spec.MaxUnavailable == nil || p.Spec.MinAvailable != nil {
					t.Errorf("PodDisruptionBudget %s: want maxUnavailable, not minAvailable", p.Name)
				}
			}
		})
	}
}

// build runs kustomize on dir and decodes every object as its Kubernetes
// type, refusing unknown fields and unknown kinds.
func build(t *testing.T, dir string) objects {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	var o objects
	for _, r := range res.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.add(r.GetKind(), b); err != nil {
			t.Errorf("%s %s: %v", r.GetKind(), r.GetName(), err)
		}
	}
	return o
}

func (o *objects) add(kind string, b []byte) error {
	switch kind {
	case "Deployment":
		return decode(b, &o.deployments)
	case "Service":
		return decode(b, &o.services)
	case "Ingress":
		return decode(b, &o.ingresses)
	case "HorizontalPodAutoscaler":
		return decode(b, &o.hpas)
	case "PodDisruptionBudget":
		return decode(b, &o.pdbs)
	case "NetworkPolicy":
		return decode(b, &o.policies)
	case "Secret":
		return decode(b, &o.secrets)
	}
	return fmt.Errorf("a kind this test does not know")
}

func decode[T any](b []byte, into *[]*T) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		return err
	}
	*into = append(*into, v)
	return nil
}

// checkPod checks the pod security every Deployment keeps.
func checkPod(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	sc := d.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.RunAsGroup == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v, want runAsNonRoot, numeric non-root user and group, seccomp RuntimeDefault", d.Name, sc)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		cs := c.SecurityContext
		if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation || cs.ReadOnlyRootFilesystem == nil ||
			!*cs.ReadOnlyRootFilesystem || cs.Capabilities == nil || len(cs.Capabilities.Drop) != 1 || cs.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s/%s: container securityContext %+v, want no privilege escalation, read-only root, drop ALL", d.Name, c.Name, cs)
		}
		if _, tag, ok := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":"); !ok || tag == "latest" {
			if !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("%s/%s: image %q, want a pinned tag or digest", d.Name, c.Name, c.Image)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: resources %+v, want CPU and memory requests and a memory limit", d.Name, c.Name, c.Resources)
		}
	}
}

// checkBFF checks a BFF's Deployment against the rest of the build.
func checkBFF(t *testing.T, d *appsv1.Deployment, objs objects) {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	checkProbes(t, d, c, env)
	documented, err := configtest.Documented("../../README.md", d.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Env {
		if !documented[e.Name] && !configtest.RuntimeVariables[e.Name] {
			t.Errorf("%s: sets %s, which it does not read", d.Name, e.Name)
		}
	}
	if limit, err := resource.ParseQuantity(strings.TrimSuffix(env["GOMEMLIMIT"], "B")); err != nil || limit.Cmp(*c.Resources.Limits.Memory()) >= 0 {
		t.Errorf("%s: GOMEMLIMIT %q, want one under the memory limit %v", d.Name, env["GOMEMLIMIT"], c.Resources.Limits.Memory())
	}
	if !strings.HasPrefix(env["ADMIN_ADDR"], ":") {
		t.Errorf("%s: ADMIN_ADDR %q, want the pod's address for Prometheus", d.Name, env["ADMIN_ADDR"])
	}
	for _, h := range objs.hpas {
		if h.Spec.ScaleTargetRef.Name == d.Name && d.Spec.Replicas != nil {
			t.Errorf("%s: replicas set on a Deployment its HorizontalPodAutoscaler scales", d.Name)
		}
	}
	checkRouting(t, d, env, objs)
	if !selects(objs.policies, d.Name) {
		t.Errorf("%s: no NetworkPolicy selects it", d.Name)
	}
}

// checkProbes: startup and readiness on /readyz, liveness on /healthz, all
// on the admin port (a flood over HTTP_MAX_CONNS must not fail them), a preStop
// sleep, and a grace period longer than it plus SHUTDOWN_TIMEOUT.
func checkProbes(t *testing.T, d *appsv1.Deployment, c corev1.Container, env map[string]string) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		want := "/readyz"
		if name == "liveness" {
			want = "/healthz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want {
			t.Errorf("%s: %s probe %+v, want GET %s", d.Name, name, p, want)
			continue
		}
		if port := p.HTTPGet.Port.String(); port != "admin" {
			t.Errorf("%s: %s probe on port %s, want the admin port", d.Name, name, port)
		}
		// Kubernetes waits a second unless told otherwise.
		if timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second; want == "/readyz" && timeout <= httpserver.ReadinessTimeout {
			t.Errorf("%s: %s probe waits %v, want longer than /readyz's checks may take (%v)", d.Name, name, timeout, httpserver.ReadinessTimeout)
		}
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatalf("%s: no preStop sleep", d.Name)
	}
	drain, err := time.ParseDuration(env["SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatalf("%s: SHUTDOWN_TIMEOUT %q: %v", d.Name, env["SHUTDOWN_TIMEOUT"], err)
	}
	var delay time.Duration // SHUTDOWN_DELAY, 0 unless set
	if v := env["SHUTDOWN_DELAY"]; v != "" {
		if delay, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s: SHUTDOWN_DELAY %q: %v", d.Name, v, err)
		}
	}
	// A stop takes the preStop sleep, SHUTDOWN_DELAY, the drain and the
	// shutdown hooks' own budget.
	need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + delay + drain + httpserver.ShutdownHookBudget
	var grace time.Duration
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	if grace <= need {
		t.Errorf("%s: terminationGracePeriodSeconds %v, want more than preStop, SHUTDOWN_DELAY, SHUTDOWN_TIMEOUT and the hooks' %v (%v)",
			d.Name, grace, httpserver.ShutdownHookBudget, need)
	}
}

// checkRouting: the Service and the Ingress reach the public port only,
// and an Ingress in front means the client address comes from its header.
func checkRouting(t *testing.T, d *appsv1.Deployment, env map[string]string, objs objects) {
	t.Helper()
	for _, s := range objs.services {
		if s.Spec.Selector["app"] != d.Name {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.String() != "http" {
				t.Errorf("Service %s routes port %s, want only the public port (http)", s.Name, p.TargetPort.String())
			}
		}
	}
	for _, in := range objs.ingresses {
		for _, r := range in.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service.Name != d.Name {
					continue
				}
				if p.Backend.Service.Port.Name != "http" {
					t.Errorf("Ingress %s routes %s port %+v, want http", in.Name, d.Name, p.Backend.Service.Port)
				}
				if env["RATE_LIMIT_CLIENT_IP_HEADER"] == "" {
					t.Errorf("%s is behind Ingress %s without RATE_LIMIT_CLIENT_IP_HEADER", d.Name, in.Name)
				}
			}
		}
	}
}

// reach is where a build's BFFs find their upstreams.
type reach int

const (
	// elsewhere: in the cluster, not in the build.
	elsewhere reach = iota
	// inBuild: in the build itself, which must serve each one.
	inBuild
)

// reachOf is where the BFFs of the build dir find their upstreams.
func reachOf(dir string) reach {
	if dir == localOverlay {
		return inBuild
	}
	return elsewhere
}

// checkUpstreams: the BFF's NetworkPolicy lets it reach the port of each
// upstream URL it is given, and, when they are in the build, a Service of
// the build answers there.
func checkUpstreams(t *testing.T, d *appsv1.Deployment, objs objects, upstreams reach) {
	t.Helper()
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if !strings.HasPrefix(e.Name, "UPSTREAM_") || !strings.HasSuffix(e.Name, "_URLS") {
			continue
		}
		for _, raw := range strings.Split(e.Value, ",") {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil || u.Port() == "" {
				t.Errorf("%s: %s=%q, want URLs with a port", d.Name, e.Name, e.Value)
				continue
			}
			port, _ := strconv.Atoi(u.Port())
			if !egressAllows(objs.policies, d.Name, int32(port)) {
				t.Errorf("%s: its NetworkPolicy blocks port %d of %s", d.Name, port, e.Name)
			}
			if upstreams == inBuild && !servesPort(objs.services, u.Hostname(), int32(port)) {
				t.Errorf("%s: no Service %s on port %d for %s", d.Name, u.Hostname(), port, e.Name)
			}
		}
	}
}

// egressAllows reports whether a NetworkPolicy selecting app lets it open
// TCP connections to port.
func egressAllows(policies []*networkingv1.NetworkPolicy, app string, port int32) bool {
	for _, p := range policies {
		if p.Spec.PodSelector.MatchLabels["app"] != app {
			continue
		}
		for _, rule := range p.Spec.Egress {
			for _, rp := range rule.Ports {
				if rp.Port == nil {
					continue
				}
				end := rp.Port.IntVal
				if rp.EndPort != nil {
					end = *rp.EndPort
				}
				if rp.Port.IntVal <= port && port <= end {
					return true
				}
			}
		}
	}
	return false
}

func servesPort(services []*corev1.Service, name string, port int32) bool {
	for _, s := range services {
		if s.Name != name {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Port == port {
				return true
			}
		}
	}
	return false
}

func selects(policies []*networkingv1.NetworkPolicy, app string) bool {
	for _, p := range policies {
		if p.Spec.PodSelector.MatchLabels["app"] == app && len(p.Spec.PolicyTypes) == 2 {
			return true
		}
	}
	return false
}
