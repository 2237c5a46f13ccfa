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
