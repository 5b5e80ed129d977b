{{/*
initbox library chart: one named template per command. Each takes a dict and
emits one init container as a list item. The dict speaks the command's own
vocabulary (as `initbox run` plans do): the argument keys below, a few
container keys, and every other key is the flag of that name. "watch" true
makes the step a native sidecar (Kubernetes >= 1.29): restartPolicy Always,
--health-addr (default :8099), a startupProbe on /readyz and a
livenessProbe on /healthz.
*/}}

{{- define "initbox.wait" -}}
{{- include "initbox.step" (dict "command" "wait" "step" .) -}}
{{- end -}}

{{- define "initbox.fetch" -}}
{{- include "initbox.step" (dict "command" "fetch" "step" .) -}}
{{- end -}}

{{- define "initbox.render" -}}
{{- include "initbox.step" (dict "command" "render" "step" .) -}}
{{- end -}}

{{- define "initbox.seed" -}}
{{- include "initbox.step" (dict "command" "seed" "step" .) -}}
{{- end -}}

{{- define "initbox.run" -}}
{{- include "initbox.step" (dict "command" "run" "step" .) -}}
{{- end -}}

{{/* initbox.arguments: the keys that are a command's arguments, in order. */}}
{{- define "initbox.arguments" -}}
{{- $all := dict "wait" (list "targets") "fetch" (list "refs") "render" (list "src") "seed" (list "source" "target") "run" (list "plan") -}}
{{- get $all . | toJson -}}
{{- end -}}

{{/* initbox.image: the step's image, or root's .Values.initbox.image. */}}
{{- define "initbox.image" -}}
{{- $s := .step -}}
{{- $img := $s.image -}}
{{- if and (not $img) $s.root -}}
{{- $img = (($s.root.Values).initbox | default dict).image -}}
{{- end -}}
{{- if kindIs "map" $img -}}
{{- $repo := required (printf "initbox.%s: .Values.initbox.image.repository is required" .command) $img.repository -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $repo $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (required (printf "initbox.%s: .Values.initbox.image needs a tag or a digest" .command) $img.tag) -}}
{{- end -}}
{{- else if $img -}}
{{- $img -}}
{{- else -}}
{{- fail (printf "initbox.%s: no image; put \"image\" in the dict, or pass \"root\" $ and set .Values.initbox.image" .command) -}}
{{- end -}}
{{- end -}}

{{- define "initbox.step" -}}
{{- $cmd := .command -}}
{{- $s := .step -}}
{{- if not (kindIs "map" $s) -}}
{{- fail (printf "initbox.%s takes a dict of options, e.g. (dict \"root\" $ ...)" $cmd) -}}
{{- end -}}
{{- $name := $s.name | default $cmd -}}
{{- /* "watch" true: a native sidecar, ready once its first pass is published. */ -}}
{{- $watch := and (hasKey $s "watch") (ne (toString $s.watch) "false") -}}
{{- if and $watch (not (has $cmd (list "fetch" "render" "seed" "run"))) -}}
{{- fail (printf "initbox.%s (%s): \"watch\" is for fetch, render, seed and run" $cmd $name) -}}
{{- end -}}
{{- if and $watch (not (hasKey $s "health-addr")) -}}
{{- $s = merge (dict "health-addr" ":8099") $s -}}
{{- end -}}
{{- $positional := include "initbox.arguments" $cmd | fromJsonArray -}}
{{- $container := list "name" "image" "imagePullPolicy" "root" "env" "envFrom" "volumeMounts" "resources" "securityContext" -}}
{{- $args := list $cmd -}}
{{- range $k := keys $s | sortAlpha -}}
{{- if not (or (has $k $container) (has $k $positional)) -}}
{{- if hasPrefix "-" $k -}}
{{- fail (printf "initbox.%s (%s): write option names without dashes (%q)" $cmd $name $k) -}}
{{- end -}}
{{- $v := get $s $k -}}
{{- if kindIs "map" $v -}}
{{- fail (printf "initbox.%s (%s): option %q is a map; flags take a string, number, bool or list" $cmd $name $k) -}}
{{- else if kindIs "slice" $v -}}
{{- range $v -}}
{{- $args = append $args (printf "--%s=%v" $k .) -}}
{{- end -}}
{{- else if kindIs "invalid" $v -}}
{{- fail (printf "initbox.%s (%s): option %q has no value" $cmd $name $k) -}}
{{- else -}}
{{- $args = append $args (printf "--%s=%v" $k $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $p := $positional -}}
{{- $v := get $s $p -}}
{{- if not $v -}}
{{- fail (printf "initbox.%s (%s): %q is required" $cmd $name $p) -}}
{{- end -}}
{{- if kindIs "slice" $v -}}
{{- range $v -}}
{{- $args = append $args (printf "%v" .) -}}
{{- end -}}
{{- else -}}
{{- $args = append $args (printf "%v" $v) -}}
{{- end -}}
{{- end -}}
- name: {{ $name | quote }}
  image: {{ include "initbox.image" . | quote }}
  {{- with $s.imagePullPolicy }}
  imagePullPolicy: {{ . | quote }}
  {{- end }}
  args: {{ toJson $args }}
  {{- if $watch }}
  {{- $port := int (regexReplaceAll "^.*:" (toString (get $s "health-addr")) "") }}
  restartPolicy: Always
  startupProbe: {{ toJson (dict "httpGet" (dict "path" "/readyz" "port" $port) "periodSeconds" 1 "failureThreshold" 300) }}
  livenessProbe: {{ toJson (dict "httpGet" (dict "path" "/healthz" "port" $port) "periodSeconds" 10) }}
  {{- end }}
  {{- with $s.env }}
  env: {{ toJson . }}
  {{- end }}
  {{- with $s.envFrom }}
  envFrom: {{ toJson . }}
  {{- end }}
  {{- with $s.volumeMounts }}
  volumeMounts: {{ toJson . }}
  {{- end }}
  resources: {{ $s.resources | default (dict "requests" (dict "cpu" "10m" "memory" "16Mi") "limits" (dict "memory" "128Mi")) | toJson }}
  securityContext: {{ $s.securityContext | default (dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault")) | toJson }}
  terminationMessagePolicy: FallbackToLogsOnError
{{- end -}}
