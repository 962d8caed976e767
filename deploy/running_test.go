package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-cache/strata/internal/config"
	"github.com/strata-cache/strata/internal/testenv/procs"
)

// The binary path every deployment runs, and the configuration path the
// systemd unit and the Kubernetes manifests use.
const (
	binaryPath = "/usr/local/bin/strata"
	configPath = "/etc/strata/strata.yaml"
)

// TestExampleConfigs loads every strata configuration file shipped here
// with config.Load, which rejects unknown keys and invalid values.
func TestExampleConfigs(t *testing.T) {
	for _, path := range []string{"strata.yaml", "docker/strata.compose.yaml"} {
		if _, err := config.Load(path, nil, nil); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}

// unitDirectives parses a systemd unit into its directives, by section,
// keeping every value of directives that repeat.
func unitDirectives(t *testing.T, path string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s: not a directive: %q", path, line)
				continue
			}
			out[section+"."+strings.TrimSpace(k)] = append(out[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

// TestSystemdUnit checks the unit's command line against strata's flags,
// its hardening, and, where systemd-analyze is installed, that systemd
// accepts the unit and rates its exposure as low.
func TestSystemdUnit(t *testing.T) {
	const path = "systemd/strata.service"
	d := unitDirectives(t, path)
	exec1 := d["Service.ExecStart"]
	if len(exec1) != 1 {
		t.Fatalf("ExecStart = %q, want one", exec1)
	}
	argv := strings.Fields(exec1[0])
	if argv[0] != binaryPath {
		t.Errorf("ExecStart runs %s, want %s", argv[0], binaryPath)
	}
	checkServeArgs(t, path, argv[1:])
	if i := slices.Index(argv, "--config"); i < 0 || i+1 >= len(argv) || argv[i+1] != configPath {
		t.Errorf("ExecStart %q does not pass --config %s", exec1[0], configPath)
	}
	for k, want := range map[string]string{
		"DynamicUser":           "yes",
		"ProtectSystem":         "strict",
		"NoNewPrivileges":       "yes",
		"CapabilityBoundingSet": "",
		"Restart":               "on-failure",
	} {
		if got := d["Service."+k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if len(d["Service.MemoryMax"]) != 1 {
		t.Error("no MemoryMax")
	}
	for _, env := range d["Service.Environment"] {
		name, _, _ := strings.Cut(env, "=")
		checkEnvName(t, path, name)
	}
	// TimeoutStopSec must leave time for the shutdown the config asks for.
	cfg, err := config.Load("strata.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stop, err := time.ParseDuration(d["Service.TimeoutStopSec"][0]); err != nil || stop <= cfg.Shutdown.Timeout {
		t.Errorf("TimeoutStopSec=%v, want more than shutdown.timeout %v of strata.yaml", d["Service.TimeoutStopSec"], cfg.Shutdown.Timeout)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the unit was checked statically only")
	}
	// verify wants ExecStart to exist: check a copy that runs /bin/true
	// unless strata is installed.
	unit := readFile(t, path)
	if _, err := os.Stat(binaryPath); err != nil {
		unit = bytes.ReplaceAll(unit, []byte(binaryPath), []byte("/bin/true"))
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "strata.service")
	if err := os.WriteFile(copyPath, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// An exposure of 2.0 or less is what systemd rates "OK"; 1.5 today.
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=20", copyPath).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	} else if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
		t.Logf("%s", bytes.TrimSpace(out[i:]))
	}
}

// k8sObjects returns the objects of the Kubernetes manifest by kind and
// name ("StatefulSet/strata").
func k8sObjects(t *testing.T) map[string]map[string]any {
	t.Helper()
	const path = "kubernetes/strata.yaml"
	out := map[string]map[string]any{}
	for i, doc := range yamlDocs(t, path) {
		kind, name := str(doc, "kind"), str(doc, "metadata", "name")
		if str(doc, "apiVersion") == "" || kind == "" || name == "" {
			t.Fatalf("%s: document %d lacks apiVersion, kind or metadata.name", path, i+1)
		}
		out[kind+"/"+name] = doc
	}
	return out
}

// matches reports whether every label of selector is set to the same value
// in labels.
func matches(selector, labels any) bool {
	sel, _ := selector.(map[string]any)
	lab, _ := labels.(map[string]any)
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if lab[k] != v {
			return false
		}
	}
	return true
}

// TestKubernetesManifests checks that the manifests hang together: the
// Services and the PDB select the StatefulSet's pods, the StatefulSet names
// the headless Service, the probes hit /livez and /readyz on a declared
// port, GOMEMLIMIT comes from the memory limit, the container runs strata
// serve with flags that exist and a configuration that loads, and the pod
// is given more time to stop than strata's shutdown takes.
func TestKubernetesManifests(t *testing.T) {
	objs := k8sObjects(t)
	sts := objs["StatefulSet/strata"]
	if sts == nil {
		t.Fatalf("no StatefulSet/strata; have %v", slices.Sorted(mapsKeys(objs)))
	}
	pod := dig(sts, "spec", "template")
	podLabels := dig(pod, "metadata", "labels")
	if !matches(dig(sts, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("the StatefulSet's selector does not match its pod labels")
	}

	headless := objs["Service/"+str(sts, "spec", "serviceName")]
	if headless == nil || str(headless, "spec", "clusterIP") != "None" {
		t.Errorf("spec.serviceName %q is not a headless Service in the manifest", str(sts, "spec", "serviceName"))
	}
	services := 0
	for key, o := range objs {
		switch str(o, "kind") {
		case "Service":
			services++
			if !matches(dig(o, "spec", "selector"), podLabels) {
				t.Errorf("%s does not select the strata pods", key)
			}
		case "PodDisruptionBudget":
			if !matches(dig(o, "spec", "selector", "matchLabels"), podLabels) {
				t.Errorf("%s does not select the strata pods", key)
			}
		}
	}
	if services < 2 {
		t.Errorf("%d Services, want a headless one and a ClusterIP one", services)
	}
	if objs["PodDisruptionBudget/strata"] == nil {
		t.Error("no PodDisruptionBudget/strata")
	}

	containers := list(pod, "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := containers[0]
	ports := map[string]bool{}
	for _, p := range list(c, "ports") {
		ports[str(p, "name")] = true
	}
	for _, probe := range []struct{ field, path string }{
		{"livenessProbe", "/livez"},
		{"readinessProbe", "/readyz"},
	} {
		if got := str(c, probe.field, "httpGet", "path"); got != probe.path {
			t.Errorf("%s path %q, want %s", probe.field, got, probe.path)
		}
		if port := str(c, probe.field, "httpGet", "port"); !ports[port] {
			t.Errorf("%s port %q is not a named container port", probe.field, port)
		}
	}
	for key, o := range objs {
		if str(o, "kind") != "Service" {
			continue
		}
		for _, p := range list(o, "spec", "ports") {
			if tp := str(p, "targetPort"); !ports[tp] {
				t.Errorf("%s targets port %q, which the container does not name", key, tp)
			}
		}
	}

	if str(c, "resources", "limits", "memory") == "" {
		t.Error("no memory limit")
	}
	gomemlimit := false
	for _, e := range list(c, "env") {
		name := str(e, "name")
		checkEnvName(t, "StatefulSet env", name)
		if name == "GOMEMLIMIT" {
			gomemlimit = str(e, "valueFrom", "resourceFieldRef", "resource") == "limits.memory"
		}
	}
	if !gomemlimit {
		t.Error("GOMEMLIMIT is not set from limits.memory through the downward API")
	}

	var args []string
	for _, a := range list(c, "args") {
		args = append(args, a.(string))
	}
	checkServeArgs(t, "StatefulSet args", args)
	i := slices.Index(args, "--config")
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q do not pass --config", args)
	}
	mounted := false
	for _, m := range list(c, "volumeMounts") {
		if filepath.Dir(args[i+1]) == str(m, "mountPath") {
			for _, v := range list(pod, "spec", "volumes") {
				if str(v, "name") == str(m, "name") {
					cm := objs["ConfigMap/"+str(v, "configMap", "name")]
					text := str(cm, "data", filepath.Base(args[i+1]))
					if text == "" {
						t.Fatalf("volume %s has no ConfigMap with %s", str(v, "name"), filepath.Base(args[i+1]))
					}
					mounted = true
					cfg := checkConfigText(t, "ConfigMap", text)
					if cfg.Shutdown.DrainDelay != 5*time.Second {
						t.Errorf("shutdown.drain_delay = %v, want 5s", cfg.Shutdown.DrainDelay)
					}
					grace, _ := dig(pod, "spec", "terminationGracePeriodSeconds").(int)
					if time.Duration(grace)*time.Second <= cfg.Shutdown.Timeout {
						t.Errorf("terminationGracePeriodSeconds %d is not above shutdown.timeout %v", grace, cfg.Shutdown.Timeout)
					}
					if _, port, _ := strings.Cut(cfg.HTTP.Addr, ":"); !containerPort(c, "http", port) {
						t.Errorf("http.addr %s does not listen on the container port named http", cfg.HTTP.Addr)
					}
					if _, port, _ := strings.Cut(cfg.RESP.Addr, ":"); !containerPort(c, "resp", port) {
						t.Errorf("resp.addr %s does not listen on the container port named resp", cfg.RESP.Addr)
					}
				}
			}
		}
	}
	if !mounted {
		t.Errorf("--config %s is not in a mounted ConfigMap", args[i+1])
	}
}

// containerPort reports whether the container's port called name has
// number port.
func containerPort(c any, name, port string) bool {
	for _, p := range list(c, "ports") {
		if str(p, "name") == name {
			n, _ := dig(p, "containerPort").(int)
			return strconv.Itoa(n) == port
		}
	}
	return false
}

// mapsKeys returns the keys of m.
func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// dockerInstruction matches one Dockerfile instruction, after line
// continuations are joined.
var dockerInstruction = regexp.MustCompile(`^([A-Z]+)\s+(.*)$`)

// TestDockerfile checks the build: a static (CGO_ENABLED=0) build of
// ./cmd/strata with the link-time version variables that exist, onto a
// distroless static nonroot base, with an entrypoint and command strata
// understands. Docker itself cannot run here.
func TestDockerfile(t *testing.T) {
	const path = "docker/Dockerfile"
	text := strings.ReplaceAll(string(readFile(t, path)), "\\\n", " ")
	var froms, runs, envs []string
	var entrypoint, cmd []string
	var user string
	goVersion := ""
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		m := dockerInstruction.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		switch m[1] {
		case "FROM":
			froms = append(froms, m[2])
		case "RUN":
			runs = append(runs, m[2])
		case "ENV":
			envs = append(envs, strings.Fields(m[2])...)
		case "USER":
			user = m[2]
		case "ARG":
			if v, ok := strings.CutPrefix(m[2], "GO_VERSION="); ok {
				goVersion = v
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(m[2]), &entrypoint); err != nil {
				t.Errorf("ENTRYPOINT is not exec form: %v", err)
			}
		case "CMD":
			if err := json.Unmarshal([]byte(m[2]), &cmd); err != nil {
				t.Errorf("CMD is not exec form: %v", err)
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("FROM %q: want a build stage and a runtime stage", froms)
	}
	if final := froms[len(froms)-1]; !strings.Contains(final, "distroless/static") || !strings.HasSuffix(final, ":nonroot") {
		t.Errorf("runtime base %q, want distroless static :nonroot", final)
	}
	if !strings.HasPrefix(user, "nonroot") {
		t.Errorf("USER %q, want nonroot", user)
	}
	build := ""
	for _, r := range runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/strata",
		"-X github.com/strata-cache/strata/internal/telemetry.Version=",
		"-X github.com/strata-cache/strata/internal/telemetry.Revision="} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %s", build, want)
		}
	}
	if _, err := os.Stat("../cmd/strata"); err != nil {
		t.Errorf("the build names ./cmd/strata: %v", err)
	}
	// The version variables the build sets must exist in package telemetry.
	tel := string(readFile(t, "../internal/telemetry/metrics.go"))
	if !strings.Contains(tel, "Version  string") || !strings.Contains(tel, "Revision string") {
		t.Error("internal/telemetry no longer declares Version and Revision for -ldflags -X")
	}
	// The Go toolchain of the build stage must be the one go.mod asks for.
	gomod := string(readFile(t, "../go.mod"))
	if m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(gomod); m == nil || m[1] != goVersion {
		t.Errorf("ARG GO_VERSION=%s, go.mod wants go %v", goVersion, m)
	}
	if len(entrypoint) != 1 || entrypoint[0] != binaryPath {
		t.Errorf("ENTRYPOINT %q, want [%s]", entrypoint, binaryPath)
	}
	if !strings.Contains(text, "COPY --from=build /out/strata "+binaryPath) {
		t.Errorf("the binary is not copied to %s", binaryPath)
	}
	checkServeArgs(t, path+" CMD", cmd)
	for _, kv := range envs {
		name, _, _ := strings.Cut(kv, "=")
		checkEnvName(t, path, name)
	}
}

// TestDockerCompose checks the compose file: it parses (anchors and
// merges included), has the services the local setup promises, runs
// strata with flags that exist, mounts files that exist, gives PostgreSQL
// wal_level=logical and builds a six-node Redis Cluster with one replica
// per master, and Prometheus's target file names the strata services.
func TestDockerCompose(t *testing.T) {
	const path = "docker-compose.yml"
	doc := yamlDoc(t, path)
	services, _ := dig(doc, "services").(map[string]any)
	for _, name := range []string{"strata-1", "strata-2", "nginx", "postgres", "prometheus",
		"redis-1", "redis-2", "redis-3", "redis-4", "redis-5", "redis-6", "redis-cluster-init"} {
		if services[name] == nil {
			t.Errorf("no service %s", name)
		}
	}
	for name, svc := range services {
		for _, v := range list(svc, "volumes") {
			src, _, _ := strings.Cut(v.(string), ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
		if b := dig(svc, "build"); b != nil {
			df := filepath.Join(str(b, "context"), str(b, "dockerfile"))
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s builds from %s: %v", name, df, err)
			}
		}
		if !strings.HasPrefix(name, "strata-") {
			continue
		}
		var args []string
		for _, a := range list(svc, "command") {
			args = append(args, a.(string))
		}
		checkServeArgs(t, "service "+name, args)
		if env, ok := dig(svc, "environment").(map[string]any); ok {
			for k := range env {
				checkEnvName(t, "service "+name, k)
			}
		}
	}
	pg := services["postgres"]
	if img := str(pg, "image"); !strings.HasPrefix(img, "postgres:15") {
		t.Errorf("postgres image %q, want postgres:15", img)
	}
	var pgArgs []string
	for _, a := range list(pg, "command") {
		pgArgs = append(pgArgs, a.(string))
	}
	if !slices.Contains(pgArgs, "wal_level=logical") {
		t.Errorf("postgres command %q does not set wal_level=logical", pgArgs)
	}
	initCmd := strings.Join(func() []string {
		var s []string
		for _, a := range list(services["redis-cluster-init"], "command") {
			s = append(s, a.(string))
		}
		return s
	}(), " ")
	if !strings.Contains(initCmd, "--cluster create") || !strings.Contains(initCmd, "--cluster-replicas 1") ||
		len(regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:7000`).FindAllString(initCmd, -1)) != 6 {
		t.Errorf("redis-cluster-init does not create a 6-node cluster with one replica per master:\n%s", initCmd)
	}
	for i := 1; i <= 6; i++ {
		if cmd := str(services["redis-"+strconv.Itoa(i)], "command"); !strings.Contains(cmd, "--cluster-enabled yes") {
			t.Errorf("redis-%d does not run in cluster mode: %q", i, cmd)
		}
	}

	// Prometheus (mounting ./prometheus) scrapes the targets listed in
	// prometheus/targets/strata.yml: they must be the strata services at
	// the port their http.addr listens on.
	cfg, err := config.Load("docker/strata.compose.yaml", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, httpPort, _ := strings.Cut(cfg.HTTP.Addr, ":")
	var targets []struct {
		Targets []string `yaml:"targets"`
	}
	if err := yamlUnmarshalFile(t, "prometheus/targets/strata.yml", &targets); err != nil {
		t.Fatal(err)
	}
	want := []string{"strata-1:" + httpPort, "strata-2:" + httpPort}
	if len(targets) != 1 || !slices.Equal(targets[0].Targets, want) {
		t.Errorf("prometheus/targets/strata.yml lists %v, want %v", targets, want)
	}
	nginx := string(readFile(t, "docker/nginx.conf"))
	for _, w := range want {
		if !strings.Contains(nginx, "server "+w) {
			t.Errorf("docker/nginx.conf has no upstream server %s", w)
		}
	}
}

// TestNginxConfig runs "nginx -t" on the compose NGINX configuration, with
// the compose service names replaced by 127.0.0.1 (they do not resolve
// here) and wrapped in the http block the nginx image provides.
func TestNginxConfig(t *testing.T) {
	bin, err := procs.LookPath("nginx", "apt-get install nginx", "/usr/sbin")
	procs.Require(t, err)
	dir := t.TempDir()
	conf := strings.NewReplacer("strata-1:", "127.0.0.1:", "strata-2:", "127.0.0.2:").Replace(string(readFile(t, "docker/nginx.conf")))
	if err := os.WriteFile(filepath.Join(dir, "strata.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	main := "pid " + filepath.Join(dir, "nginx.pid") + ";\n" +
		"error_log " + filepath.Join(dir, "error.log") + ";\n" +
		"events {}\n" +
		"http {\n" +
		"  access_log off;\n" +
		"  client_body_temp_path " + dir + "/body;\n" +
		"  proxy_temp_path " + dir + "/proxy;\n" +
		"  fastcgi_temp_path " + dir + "/fastcgi;\n" +
		"  uwsgi_temp_path " + dir + "/uwsgi;\n" +
		"  scgi_temp_path " + dir + "/scgi;\n" +
		"  include " + filepath.Join(dir, "strata.conf") + ";\n" +
		"}\n"
	mainPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(mainPath, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", mainPath).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	t.Logf("nginx -t:\n%s", out)
}
