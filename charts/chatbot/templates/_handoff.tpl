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
