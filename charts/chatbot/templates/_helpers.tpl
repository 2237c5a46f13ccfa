{{/*
Names, labels and the shared building blocks of the components.

A component is one of "ingress", "conversation", "sender" and, with console.enabled, "console"
(chatbot.components); its values live under the key of the same name, and say what differs
between them (public, credentials, ...). Templates that need the chart root and a component
take (dict "root" $ "component" "ingress").
*/}}

{{/* The components the release deploys, in pipeline order, then the operators' console when
console.enabled: range over `include "chatbot.components" . | splitList " "`. */}}
{{- define "chatbot.components" -}}
ingress conversation sender{{ if .Values.console.enabled }} console{{ end }}
{{- end }}

{{/* The chart name, overridable with nameOverride. */}}
{{- define "chatbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The release's base name: fullnameOverride, or the release name when it already holds the chart
name, or "<release>-<chart>". Component resources add "-<component>", so this stays short.
*/}}
{{- define "chatbot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* chart label value: name-version. */}}
{{- define "chatbot.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource carries. */}}
{{- define "chatbot.labels" -}}
helm.sh/chart: {{ include "chatbot.chart" . }}
{{ include "chatbot.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chatbot
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels that select the release's pods. */}}
{{- define "chatbot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The component label, alone. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.componentLabel" -}}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of a component's resources. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.componentLabels" -}}
{{ include "chatbot.labels" .root }}
{{ include "chatbot.componentLabel" . }}
{{- end }}

{{/* Labels that select one component's pods. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.componentSelectorLabels" -}}
{{ include "chatbot.selectorLabels" .root }}
{{ include "chatbot.componentLabel" . }}
{{- end }}

{{/* Name of a component's resources: <fullname>-<component>. */}}
{{- define "chatbot.componentName" -}}
{{- printf "%s-%s" (include "chatbot.fullname" .root) .component }}
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "chatbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatbot.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A component's image: [registry/]repository:tag[@digest]; the tag defaults to
image.tag, then to the chart's appVersion. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.image" -}}
{{- $image := (index .root.Values .component).image }}
{{- $registry := default .root.Values.image.registry $image.registry }}
{{- $tag := default (default .root.Chart.AppVersion .root.Values.image.tag) $image.tag }}
{{- if eq (toString $tag) "latest" }}
{{- fail (printf "%s.image.tag: pin a version, not \"latest\"" .component) }}
{{- end }}
{{- $name := $image.repository }}
{{- if $registry }}{{ $name = printf "%s/%s" (trimSuffix "/" $registry) $name }}{{ end }}
{{- if $image.digest }}
{{- printf "%s:%s@%s" $name (toString $tag) $image.digest }}
{{- else }}
{{- printf "%s:%s" $name (toString $tag) }}
{{- end }}
{{- end }}

{{/* The Secret with OPENAI_API_KEY, TWILIO_*, USER_KEY_SECRET and CONSOLE_TOKEN. */}}
{{- define "chatbot.secretName" -}}
{{- default (include "chatbot.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret and key that hold the full NATS_URL with credentials, when there is one. */}}
{{- define "chatbot.natsSecretName" -}}
{{- if .Values.nats.auth.existingSecret }}
{{- .Values.nats.auth.existingSecret }}
{{- else if .Values.nats.auth.url }}
{{- printf "%s-nats" (include "chatbot.fullname" .) }}
{{- end }}
{{- end }}

{{/* NATS_URL when it holds no credentials: nats.url, or the bundled NATS chart's client
Service (its `nats` port). */}}
{{- define "chatbot.natsUrl" -}}
{{- if .Values.nats.url }}
{{- .Values.nats.url }}
{{- else if .Values.nats.enabled }}
{{- printf "nats://%s:%s" (include "chatbot.natsServiceName" .) (include "chatbot.natsClientPort" .) }}
{{- end }}
{{- end }}

{{/* The bundled NATS chart's client Service: nats.service.name (a plain name), else the
chart's full name. */}}
{{- define "chatbot.natsServiceName" -}}
{{- default (include "chatbot.natsFullname" .) (dig "service" "name" "" .Values.nats) }}
{{- end }}

{{/* The bundled NATS chart's client port: nats.config.nats.port (that chart's default 4222). */}}
{{- define "chatbot.natsClientPort" -}}
{{- dig "config" "nats" "port" 4222 .Values.nats | int }}
{{- end }}

{{/* The bundled NATS chart's full name (the default name of its Service and StatefulSet), as
that chart computes it. */}}
{{- define "chatbot.natsFullname" -}}
{{- if .Values.nats.fullnameOverride }}
{{- .Values.nats.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "nats" .Values.nats.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* PUBLIC_BASE_URL: publicBaseUrl, or derived from the first host of the Ingress (https when
a TLS entry covers it). Empty when neither is set. */}}
{{- define "chatbot.publicBaseUrl" -}}
{{- if .Values.publicBaseUrl }}
{{- trimSuffix "/" .Values.publicBaseUrl }}
{{- else if and .Values.ingress.ingress.enabled .Values.ingress.ingress.hosts }}
{{- $host := (first .Values.ingress.ingress.hosts).host }}
{{- $scheme := "http" }}
{{- range .Values.ingress.ingress.tls }}
{{- if has $host .hosts }}{{ $scheme = "https" }}{{ end }}
{{- end }}
{{- printf "%s://%s" $scheme $host }}
{{- end }}
{{- end }}

{{/* One environment value as the services parse it: lists comma-joined, whole numbers
without an exponent (YAML numbers arrive as float64), everything else as text. */}}
{{- define "chatbot.envValue" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* Adds settings to a ConfigMap's data: camelCase keys become UPPER_SNAKE names
(openaiModel -> OPENAI_MODEL); null, "" and [] are left out so the service default applies.
(dict "data" $data "settings" $map) */}}
{{- define "chatbot.addSettings" -}}
{{- $data := .data }}
{{- range $key, $value := .settings }}
{{- if not (or (kindIs "invalid" $value) (and (kindIs "string" $value) (eq $value "")) (and (kindIs "slice" $value) (empty $value))) }}
{{- $_ := set $data ($key | snakecase | upper) (include "chatbot.envValue" $value) }}
{{- end }}
{{- end }}
{{- end }}

{{/* Adds NAME: value passthrough variables to a ConfigMap's data. (dict "data" $data "env" $map) */}}
{{- define "chatbot.addEnv" -}}
{{- $data := .data }}
{{- range $name, $value := .env }}
{{- $_ := set $data $name (include "chatbot.envValue" $value) }}
{{- end }}
{{- end }}

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

{{/* The handoff's desks: what each one needs of handoff.<desk> and where it goes, in YAML.
- settings: the values the desk requires (a hint for the error), and the setting each becomes
  (chatbot.handoffSettings: camelCase of its variable);
- secret: the Secret the chart renders from the inline values, <fullname>-<secret>;
- credentials: the desk's secrets: their name in <component>.credentials, their variable, and
  the handoff.<desk> value (also their key in handoff.<desk>.existingSecretKeys) they come from;
  `webhooks` marks the one that checks the desk's webhooks: the component reading it serves
  POST /desk/<desk>, routed on its Ingress with handoff.<desk>.ingressRoute.
Every desk's secrets are handled alike from here: chatbot.validateHandoff, chatbot.deskSecret,
chatbot.secretEnv, chatbot.readsDeskSecret, chatbot.deskWebhookPath. */}}
{{- define "chatbot.desks" -}}
chatwoot:
  settings:
    - {value: baseUrl, setting: chatwootBaseUrl, hint: "Chatwoot's address, https://desk.example.com"}
    - {value: accountId, setting: chatwootAccountId}
    - {value: inboxId, setting: chatwootInboxId, hint: the API-channel inbox}
  secret: chatwoot
  credentials:
    - {name: chatwootApiToken, var: CHATWOOT_API_TOKEN, value: apiToken}
    - {name: chatwootWebhookSecret, var: CHATWOOT_WEBHOOK_SECRET, value: webhookSecret, webhooks: true}
webhook:
  settings:
    - {value: url, setting: handoffWebhookUrl, hint: "where the desk takes our events, https://desk.example.com/chatbot"}
  secret: handoff-webhook
  credentials:
    - {name: handoffWebhookSecret, var: HANDOFF_WEBHOOK_SECRET, value: secret, webhooks: true}
{{- end }}

{{/* The entry of chatbot.desks for handoff.desk, in YAML; empty with desk none. */}}
{{- define "chatbot.desk" -}}
{{- with get (include "chatbot.desks" . | fromYaml) (toString .Values.handoff.desk) }}
{{- toYaml . }}
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

{{/* A component's ConfigMap: its non-secret settings, read with envFrom. configmap.yaml renders
it; deployment.yaml hashes it to roll the pods on a change. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.configmap" -}}
{{- $root := .root }}
{{- $c := index $root.Values .component }}
{{- $port := include "chatbot.envValue" $c.containerPort }}
{{- $data := dict "HOST" "0.0.0.0" "PORT" $port }}
{{- with include "chatbot.natsUrl" $root }}{{ $_ := set $data "NATS_URL" . }}{{ end }}
{{- $_ := set $data "NATS_REPLICAS" (include "chatbot.envValue" $root.Values.nats.streamReplicas) }}
{{- include "chatbot.addSettings" (dict "data" $data "settings" $root.Values.config) }}
{{- if $c.usesPublicBaseUrl }}
{{- with include "chatbot.publicBaseUrl" $root }}{{ $_ := set $data "PUBLIC_BASE_URL" . }}{{ end }}
{{- end }}
{{- include "chatbot.addSettings" (dict "data" $data "settings" $c.settings) }}
{{- if $c.usesHandoff }}
{{- include "chatbot.addSettings" (dict "data" $data "settings" (include "chatbot.handoffSettings" $root | fromYaml)) }}
{{- end }}
{{- if $c.instructions }}
{{- $_ := set $data "OPENAI_INSTRUCTIONS_FILE" "/etc/chatbot/instructions/instructions.txt" }}
{{- end }}
{{- if $c.tools }}
{{- $_ := set $data "TOOLS_FILE" "/etc/chatbot/tools/tools.yaml" }}
{{- end }}
{{- include "chatbot.addEnv" (dict "data" $data "env" $root.Values.env) }}
{{- include "chatbot.addEnv" (dict "data" $data "env" $c.env) }}
{{- /* The chart owns these: a passthrough must not move the server off the probes' port. */}}
{{- $_ := set $data "HOST" "0.0.0.0" }}
{{- $_ := set $data "PORT" $port }}
{{- if $c.public }}
{{- include "chatbot.requirePublicBaseUrl" (dict "data" $data "component" $c) }}
{{- end }}
{{- if and (dig "tools" "hosted" list $c) (eq (toString (get $data "OPENAI_BACKEND")) "chat") }}
{{- fail (printf "%s.tools.hosted: hosted tools run only with the Responses API, and the service refuses them with OPENAI_BACKEND=chat; set %s.settings.openaiBackend=responses or remove them" .component .component) }}
{{- end }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
data:
  {{- toYaml $data | nindent 2 }}
{{- end }}

{{/* The Secret whose keys a component loads as environment variables for its tools' headers
(headers_from_env): toolsSecret.existingSecret, or "<component name>-tools" rendered from
toolsSecret.values; empty without either. (dict "root" $ "component" "conversation") */}}
{{- define "chatbot.toolsSecretName" -}}
{{- $c := index .root.Values .component }}
{{- if dig "toolsSecret" "existingSecret" "" $c }}
{{- dig "toolsSecret" "existingSecret" "" $c }}
{{- else if dig "toolsSecret" "values" dict $c }}
{{- printf "%s-tools" (include "chatbot.componentName" .) }}
{{- end }}
{{- end }}

{{/* A component's Secret of tool header variables (toolsSecret.values), when it has one.
tools-secret.yaml renders it; deployment.yaml hashes it to roll the pods on a change.
(dict "root" $ "component" "conversation") */}}
{{- define "chatbot.toolsSecret" -}}
{{- $c := index .root.Values .component }}
{{- with dig "toolsSecret" "values" dict $c }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "chatbot.componentName" $ }}-tools
  namespace: {{ $.root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" $ | nindent 4 }}
type: Opaque
data:
  {{- range $name, $value := . }}
  {{ $name }}: {{ toString $value | b64enc | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The handoff's settings as camelCase keys of their variables (chatbot.addSettings turns
handoffDesk into HANDOFF_DESK), in YAML: the common ones and the desk's (chatbot.desks); empty
with handoff.desk none. The secrets are not here: they are credentials (chatbot.secretEnv). */}}
{{- define "chatbot.handoffSettings" -}}
{{- $h := .Values.handoff }}
{{- with include "chatbot.desk" . | fromYaml }}
{{- $v := get $h (toString $h.desk) }}
{{- $settings := dict "handoffDesk" $h.desk "handoffKeywords" $h.keywords "handoffMessage" $h.message "handoffReturnMessage" $h.returnMessage "handoffIdleTimeout" $h.idleTimeout }}
{{- range .settings }}
{{- $_ := set $settings .setting (get $v .value) }}
{{- end }}
{{- toYaml $settings }}
{{- end }}
{{- end }}

{{/* The Secret with the desk's credentials (chatbot.desks): handoff.<desk>.existingSecret, or
"<fullname>-<secret>" rendered from the inline values (<fullname>-chatwoot,
<fullname>-handoff-webhook); empty with handoff.desk none. */}}
{{- define "chatbot.deskSecretName" -}}
{{- with include "chatbot.desk" $ | fromYaml }}
{{- default (printf "%s-%s" (include "chatbot.fullname" $) .secret) (get $.Values.handoff (toString $.Values.handoff.desk)).existingSecret }}
{{- end }}
{{- end }}

{{/* The desk's Secret the chart renders (a desk without handoff.<desk>.existingSecret), when
there is one: each credential's variable from its inline value. handoff-secret.yaml renders it;
deployment.yaml hashes it to roll the pods that read it. chatbot.validate has already required
the values. */}}
{{- define "chatbot.deskSecret" -}}
{{- with include "chatbot.desk" $ | fromYaml }}
{{- $v := get $.Values.handoff (toString $.Values.handoff.desk) }}
{{- if not $v.existingSecret }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "chatbot.deskSecretName" $ }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "chatbot.labels" $ | nindent 4 }}
type: Opaque
data:
  {{- range .credentials }}
  {{ .var }}: {{ get $v .value | b64enc | quote }}
  {{- end }}
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

{{/* The keys of `secrets` and the variable each one is (also its key in the Secret the chart
renders), in YAML. */}}
{{- define "chatbot.secretVars" -}}
openaiApiKey: OPENAI_API_KEY
twilioAccountSid: TWILIO_ACCOUNT_SID
twilioAuthToken: TWILIO_AUTH_TOKEN
userKeySecret: USER_KEY_SECRET
consoleToken: CONSOLE_TOKEN
{{- end }}

{{/* Whether a component the release deploys reads the credential .credential (a key of
`secrets`): "true" or empty. CONSOLE_TOKEN is in the Secret only when one does (the console).
(dict "root" $ "credential" "consoleToken") */}}
{{- define "chatbot.credentialRead" -}}
{{- $read := false }}
{{- range $component := include "chatbot.components" .root | splitList " " }}
{{- if has $.credential (index $.root.Values $component).credentials }}{{ $read = true }}{{ end }}
{{- end }}
{{- if $read }}true{{ end }}
{{- end }}

{{/* Env entries of the credentials named in .credentials: a key of `secrets` from the
credentials Secret, and a desk's credential (chatwootApiToken, chatwootWebhookSecret,
handoffWebhookSecret) from the desk's Secret, only when it is handoff.desk's (chatbot.desks).
(dict "root" $ "credentials" (list "twilioAuthToken")) */}}
{{- define "chatbot.secretEnv" -}}
{{- $root := .root }}
{{- $secret := include "chatbot.secretName" $root }}
{{- $keys := $root.Values.secrets.existingSecretKeys }}
{{- $vars := include "chatbot.secretVars" $root | fromYaml }}
{{- $desk := dict }}
{{- range (include "chatbot.desk" $root | fromYaml).credentials }}{{ $_ := set $desk .name . }}{{ end }}
{{- $v := get $root.Values.handoff (toString $root.Values.handoff.desk) }}
{{- range .credentials }}
{{- if hasKey $vars . }}
- name: {{ get $vars . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary (get $keys .) (get $vars .) (not (empty $root.Values.secrets.existingSecret)) }}
{{- else if hasKey $desk . }}
{{- $credential := get $desk . }}
- name: {{ $credential.var }}
  valueFrom:
    secretKeyRef:
      name: {{ include "chatbot.deskSecretName" $root }}
      key: {{ if $v.existingSecret }}{{ get $v.existingSecretKeys $credential.value }}{{ else }}{{ $credential.var }}{{ end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether a component reads a credential of handoff.desk's (its credentials name one):
"true" or empty. (dict "root" $ "component" "ingress") */}}
{{- define "chatbot.readsDeskSecret" -}}
{{- $c := index .root.Values .component }}
{{- $reads := false }}
{{- range (include "chatbot.desk" .root | fromYaml).credentials }}
{{- if has .name $c.credentials }}{{ $reads = true }}{{ end }}
{{- end }}
{{- if $reads }}true{{ end }}
{{- end }}

{{/* The desk's webhook path, /desk/<desk>, when the component serves it: its credentials name
the desk's credential that checks the desk's webhooks (chatbot.desks); empty otherwise.
(dict "root" $ "component" "ingress") */}}
{{- define "chatbot.deskWebhookPath" -}}
{{- $c := index .root.Values .component }}
{{- range (include "chatbot.desk" .root | fromYaml).credentials }}
{{- if and .webhooks (has .name $c.credentials) }}/desk/{{ $.root.Values.handoff.desk }}{{ end }}
{{- end }}
{{- end }}

{{/* The NATS_URL env entry, when the URL carries credentials and so sits in a Secret. */}}
{{- define "chatbot.natsUrlEnv" -}}
{{- with include "chatbot.natsSecretName" . }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ if $.Values.nats.auth.existingSecret }}{{ $.Values.nats.auth.existingSecretKey }}{{ else }}NATS_URL{{ end }}
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
