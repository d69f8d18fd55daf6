package deploy_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// checkDockerfile checks what the manifests rely on in the image: static
// binaries (CGO_ENABLED=0) of both services at the paths the Deployments'
// commands name, the production base named by BASE_IMAGE (distroless
// static, nonroot, by default), and a numeric non-root user that is the
// pods' runAsUser. The image itself is built and run by
// scripts/image-smoke.sh where podman can run.
func checkDockerfile(dockerfile string, objs []object) []error {
	var errs []error
	if !regexp.MustCompile(`(?m)^ENV CGO_ENABLED=0 `).MatchString(dockerfile) {
		errs = append(errs, errors.New("Dockerfile: the binaries are not built with CGO_ENABLED=0 (static)"))
	}
	if !regexp.MustCompile(`(?m)^ARG BASE_IMAGE=gcr\.io/distroless/static-debian12:nonroot$`).MatchString(dockerfile) {
		errs = append(errs, errors.New("Dockerfile: no ARG BASE_IMAGE defaulting to gcr.io/distroless/static-debian12:nonroot"))
	}
	if !regexp.MustCompile(`(?m)^FROM \$\{BASE_IMAGE\} AS base$`).MatchString(dockerfile) {
		errs = append(errs, errors.New("Dockerfile: no stage base FROM ${BASE_IMAGE}"))
	}
	froms := regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(dockerfile, -1)
	if len(froms) == 0 || froms[len(froms)-1] != "FROM base AS image" {
		errs = append(errs, errors.New("Dockerfile: the last stage (the default target) is not FROM base AS image"))
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)$`).FindAllStringSubmatch(dockerfile, -1)
	if len(users) != 1 {
		return append(errs, fmt.Errorf("Dockerfile: %d USER lines, want one, in stage base", len(users)))
	}
	uid, _, _ := strings.Cut(users[0][1], ":")
	n, err := strconv.ParseInt(uid, 10, 64)
	if err != nil || n == 0 {
		errs = append(errs, fmt.Errorf("Dockerfile: USER %s: want a numeric user other than root (runAsNonRoot checks the number)", users[0][1]))
	}
	// Both final stages, image (built here) and prebuilt (from bin/), put
	// the two binaries in one directory.
	copies := regexp.MustCompile(`(?m)^COPY (?:--from=build )?--chmod=0555 (?:/out|bin)/ingest (?:/out|bin)/worker (\S+)/$`).FindAllStringSubmatch(dockerfile, -1)
	if len(copies) != 2 || copies[0][1] != copies[1][1] {
		return append(errs, fmt.Errorf("Dockerfile: %d COPY lines of ingest and worker, want 2 (stages prebuilt and image) into one directory", len(copies)))
	}
	dir := copies[0][1]
	for _, d := range deployments(objs) {
		sc := d.Spec.Template.Spec.SecurityContext
		if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != n {
			errs = append(errs, fmt.Errorf("Deployment %s: runAsUser is not the image's user %d", d.Name, n))
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if len(c.Command) == 0 || !slices.Contains([]string{dir + "/ingest", dir + "/worker"}, c.Command[0]) {
				errs = append(errs, fmt.Errorf("Deployment %s container %s: command %v is not a binary of the image (%s/ingest, %s/worker)", d.Name, c.Name, c.Command, dir, dir))
			}
		}
	}
	return errs
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestDockerfile checks the Dockerfile against what the manifests expect.
func TestDockerfile(t *testing.T) {
	objs, err := render(memTree(t, "."), "/"+production, kedaSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	if errs := checkDockerfile(readDockerfile(t), objs); len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
}

// TestDockerfileChecksCatchBreakage breaks the Dockerfile or a Deployment
// on purpose and wants the check to say so.
func TestDockerfileChecksCatchBreakage(t *testing.T) {
	keda := kedaSchema(t)
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"cgo on", "docker/Dockerfile", "ENV CGO_ENABLED=0", "ENV CGO_ENABLED=1", "CGO_ENABLED=0"},
		{"another base", "docker/Dockerfile", "ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot", "ARG BASE_IMAGE=debian:12", "no ARG BASE_IMAGE"},
		{"root", "docker/Dockerfile", "USER 65532:65532", "USER root", "USER root"},
		{"binaries elsewhere", "docker/Dockerfile", "/out/ingest /out/worker /usr/local/bin/", "/out/ingest /out/worker /bin/", "into one directory"},
		{"both stages elsewhere", "docker/Dockerfile", "COPY --chmod=0555 bin/ingest bin/worker /usr/local/bin/\n\n# The default target, last: the binaries built above.\nFROM base AS image\nCOPY --from=build --chmod=0555 /out/ingest /out/worker /usr/local/bin/", "COPY --chmod=0555 bin/ingest bin/worker /bin/\n\n# The default target, last: the binaries built above.\nFROM base AS image\nCOPY --from=build --chmod=0555 /out/ingest /out/worker /bin/", "is not a binary of the image"},
		{"default target not the build", "docker/Dockerfile", "COPY --from=build --chmod=0555 /out/ingest /out/worker /usr/local/bin/\n", "COPY --from=build --chmod=0555 /out/ingest /out/worker /usr/local/bin/\n\nFROM base AS debug\n", "not FROM base AS image"},
		{"another pod user", "k8s/base/worker.yaml", "runAsUser: 65532", "runAsUser: 1000", "runAsUser is not the image's user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := memTree(t, ".")
			if err := replaceOnce(fsys, "/"+tc.file, tc.old, tc.new); err != nil {
				t.Fatal(err)
			}
			objs, err := render(fsys, "/"+production, keda)
			if err != nil {
				t.Fatal(err)
			}
			dockerfile, err := fsys.ReadFile("/docker/Dockerfile")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range checkDockerfile(string(dockerfile), objs) {
				if strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("no failure says %q", tc.want)
		})
	}
}

// replaceOnce replaces old, which must occur once, by new in file of fsys.
func replaceOnce(fsys filesys.FileSystem, file, old, new string) error {
	data, err := fsys.ReadFile(file)
	if err != nil {
		return err
	}
	if n := strings.Count(string(data), old); n != 1 {
		return fmt.Errorf("%s has %q %d times; the breakage needs it once", file, old, n)
	}
	return fsys.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)))
}
