{{/*
Checks that need more than the schema; each fails the render with a clear message.
*/}}
{{- define "chatbot.validate" -}}
{{- if not (include "chatbot.natsUrl" .) }}
{{- if not (include "chatbot.natsSecretName" .) }}
{{- fail "NATS: set nats.url to your JetStream server (nats://host:4222), nats.auth.existingSecret to a Secret holding NATS_URL, or nats.enabled=true to install the bundled NATS" }}
{{- end }}
{{- end }}
{{- if and .Values.nats.enabled .Values.nats.config.cluster.enabled (lt (int .Values.nats.streamReplicas) 3) }}
{{- fail "nats.streamReplicas: the bundled NATS runs as a cluster (nats.config.cluster.enabled): set nats.streamReplicas=3" }}
{{- end }}
{{- if and .Values.nats.enabled (not .Values.nats.config.cluster.enabled) (gt (int .Values.nats.streamReplicas) 1) }}
{{- fail "nats.streamReplicas: the bundled NATS is a single server (nats.config.cluster.enabled=false): set nats.streamReplicas=1" }}
{{- end }}
{{- if and .Values.nats.enabled (not .Values.nats.config.jetstream.enabled) }}
{{- fail "nats.config.jetstream.enabled: the services need JetStream; keep it true" }}
{{- end }}
{{- if and .Values.nats.enabled .Values.networkPolicy.enabled }}
{{- $port := include "chatbot.natsClientPort" . | int }}
{{- $listed := false }}
{{- range .Values.networkPolicy.natsPorts }}{{ if eq (int .) $port }}{{ $listed = true }}{{ end }}{{ end }}
{{- if not $listed }}
{{- fail (printf "networkPolicy.natsPorts: add %d, the bundled NATS client port (nats.config.nats.port)" $port) }}
{{- end }}
{{- end }}
{{- include "chatbot.validateHandoff" . }}
{{- include "chatbot.validateConsole" . }}
{{- $drain := float64 .Values.config.drainTimeout }}
{{- range $component := include "chatbot.components" . | splitList " " }}
{{- $c := index $.Values $component }}
{{- $needed := addf $drain (float64 $c.preStopSleepSeconds) }}
{{- if le (float64 $c.terminationGracePeriodSeconds) $needed }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%v) must exceed config.drainTimeout (%v) plus %s.preStopSleepSeconds (%v), or Kubernetes kills pods before they drain" $component $c.terminationGracePeriodSeconds $.Values.config.drainTimeout $component $c.preStopSleepSeconds) }}
{{- end }}
{{- if and (dig "toolsSecret" "existingSecret" "" $c) (dig "toolsSecret" "values" dict $c) }}
{{- fail (printf "%s.toolsSecret: set existingSecret (a Secret you manage) or values (rendered into a Secret of the release), not both" $component) }}
{{- end }}
{{- $names := list }}
{{- range $i, $function := dig "tools" "functions" list $c }}
{{- if eq (toString $function.name) "handoff_to_human" }}
{{- fail (printf "%s.tools.functions[%d].name: handoff_to_human is the service's own tool; choose another name" $component $i) }}
{{- end }}
{{- if has $function.name $names }}
{{- fail (printf "%s.tools.functions[%d].name: %s names two functions; names must be unique" $component $i $function.name) }}
{{- end }}
{{- $names = append $names $function.name }}
{{- end }}
{{- range $i, $tool := dig "tools" "hosted" list $c }}
{{- if and $tool.headers_from_env (ne (toString $tool.type) "mcp") }}
{{- fail (printf "%s.tools.hosted[%d].headers_from_env: only an mcp tool sends headers, not %s" $component $i $tool.type) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The handoff's checks (chatbot.validate): a desk the service can reach and a secret source,
one source only (for every desk, chosen or not), and an unanswered-wait alert that can fire. */}}
{{- define "chatbot.validateHandoff" -}}
{{- $h := .Values.handoff }}
{{- range $name, $desk := include "chatbot.desks" . | fromYaml }}
{{- $v := get $h $name }}
{{- $vars := list }}
{{- $inline := list }}
{{- $given := false }}
{{- range $desk.credentials }}
{{- $vars = append $vars .var }}
{{- $inline = append $inline .value }}
{{- if get $v .value }}{{ $given = true }}{{ end }}
{{- end }}
{{- if and $v.existingSecret $given }}
{{- fail (printf "handoff.%s: set existingSecret (a Secret you manage, with %s) or %s (rendered into a Secret of the release), not both" $name (join " and " $vars) (join " and " $inline)) }}
{{- end }}
{{- if eq (toString $h.desk) $name }}
{{- $missing := list }}
{{- range $desk.settings }}
{{- if not (get $v .value) }}
{{- if .hint }}{{ $missing = append $missing (printf "%s (%s)" .value .hint) }}{{ else }}{{ $missing = append $missing .value }}{{ end }}
{{- end }}
{{- end }}
{{- if not $v.existingSecret }}
{{- range $desk.credentials }}
{{- if not (get $v .value) }}{{ $missing = append $missing (printf "%s (or existingSecret)" .value) }}{{ end }}
{{- end }}
{{- end }}
{{- if $missing }}
{{- fail (printf "handoff.desk=%s needs handoff.%s.%s" $name $name (join (printf ", handoff.%s." $name) $missing)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (ne (toString $h.desk) "none") .Values.metrics.prometheusRule.enabled (not (kindIs "invalid" $h.idleTimeout)) }}
{{- if ge (addf (float64 $h.waitAlertAfter) 300.0) (float64 $h.idleTimeout) }}
{{- fail (printf "handoff.waitAlertAfter (%v) plus the 5 minutes ChatbotHandoffUnanswered waits must stay below handoff.idleTimeout (%v): a user is handed back to the bot after idleTimeout without a reply, so the alert could never fire" $h.waitAlertAfter $h.idleTimeout) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Fails the render when the public component would refuse to start: signatures checked, and
neither a PUBLIC_BASE_URL (publicBaseUrl, the Ingress's first host, or an env passthrough) nor the
explicit PUBLIC_BASE_URL_FROM_REQUEST=true opt-in. Without one, the signed URL would come from
headers the client chooses. (dict "data" $configMapData "component" .Values.ingress) */}}
{{- define "chatbot.requirePublicBaseUrl" -}}
{{- $data := .data }}
{{- $fromEnv := dict }}
{{- range .component.extraEnv }}{{ $_ := set $fromEnv .name true }}{{ end }}
{{- $validating := ne (toString (get $data "TWILIO_VALIDATE_SIGNATURE")) "false" }}
{{- $url := or (get $data "PUBLIC_BASE_URL") (hasKey $fromEnv "PUBLIC_BASE_URL") }}
{{- $optIn := or (eq (lower (toString (get $data "PUBLIC_BASE_URL_FROM_REQUEST"))) "true") (hasKey $fromEnv "PUBLIC_BASE_URL_FROM_REQUEST") }}
{{- if and $validating (not $url) (not $optIn) }}
{{- fail "publicBaseUrl: set it to the https origin Twilio calls (https://host[:port]), or enable ingress.ingress with a host to derive it from. ingress checks webhook signatures against it and will not start without it; only for a test install, ingress.env.PUBLIC_BASE_URL_FROM_REQUEST=\"true\" checks them on the URL the request names instead" }}
{{- end }}
{{- end }}

{{/* The console's checks (chatbot.validate):
- no Ingress of a component that is not public (the console's) on a host of the public door (a
  public component's Ingress hosts, publicBaseUrl's host): an Ingress controller serves every
  Ingress of one host together, so the console would be a path of the public host;
- a token the service takes, when the chart renders it (secret.yaml requires one; with
  secrets.existingSecret the chart cannot read it, and the console refuses a shorter one). */}}
{{- define "chatbot.validateConsole" -}}
{{- $public := list }}
{{- with .Values.publicBaseUrl }}{{ $public = append $public (urlParse .).hostname }}{{ end }}
{{- $components := include "chatbot.components" . | splitList " " }}
{{- range $components }}
{{- $c := index $.Values . }}
{{- if and $c.public (dig "ingress" "enabled" false $c) }}
{{- range $c.ingress.hosts }}{{ $public = append $public .host }}{{ end }}
{{- end }}
{{- end }}
{{- range $components }}
{{- $c := index $.Values . }}
{{- if and (not $c.public) (dig "ingress" "enabled" false $c) }}
{{- $name := . }}
{{- range $c.ingress.hosts }}
{{- if has .host $public }}
{{- fail (printf "%s.ingress.hosts: %s is a host of the public webhook door (ingress.ingress.hosts or publicBaseUrl); give the %s a host of its own, behind your SSO" $name .host $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (include "chatbot.credentialRead" (dict "root" . "credential" "consoleToken")) (not .Values.secrets.existingSecret) }}
{{- $token := toString .Values.secrets.consoleToken }}
{{- if and $token (lt (len $token) 32) }}
{{- fail (printf "secrets.consoleToken: at least 32 characters (it has %d), or the console refuses to start; e.g. `openssl rand -hex 32`" (len $token)) }}
{{- end }}
{{- end }}
{{- end }}
