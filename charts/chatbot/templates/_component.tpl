{{/*
The resources every component has, as defines that templates/<component>/*.yaml include with
(dict "root" $ "component" "<component>"). Component-specific parts are switched on the
component name here, so the three Deployments cannot drift apart.
*/}}

{{/* ConfigMap: the component's non-secret settings, read with envFrom. */}}
{{- define "chatbot.configmap" -}}
{{- $root := .root }}
{{- $c := index $root.Values .component }}
{{- $data := dict "HOST" "0.0.0.0" "PORT" (include "chatbot.port" .) }}
{{- with include "chatbot.natsUrl" $root }}{{ $_ := set $data "NATS_URL" . }}{{ end }}
{{- $_ := set $data "NATS_REPLICAS" (include "chatbot.envValue" $root.Values.nats.streamReplicas) }}
{{- include "chatbot.addSettings" (dict "data" $data "settings" $root.Values.config) }}
{{- if ne .component "conversation" }}
{{- with include "chatbot.publicBaseUrl" $root }}{{ $_ := set $data "PUBLIC_BASE_URL" . }}{{ end }}
{{- end }}
{{- include "chatbot.addSettings" (dict "data" $data "settings" $c.settings) }}
{{- if and (eq .component "conversation") $c.instructions }}
{{- $_ := set $data "OPENAI_INSTRUCTIONS_FILE" "/etc/chatbot/instructions/instructions.txt" }}
{{- end }}
{{- include "chatbot.addEnv" (dict "data" $data "env" $root.Values.env) }}
{{- include "chatbot.addEnv" (dict "data" $data "env" $c.env) }}
{{- /* The chart owns these: a passthrough must not move the server off the probes' port. */}}
{{- $_ := set $data "HOST" "0.0.0.0" }}
{{- $_ := set $data "PORT" (include "chatbot.port" .) }}
{{- if eq .component "ingress" }}
{{- include "chatbot.requirePublicBaseUrl" (dict "data" $data "component" $c) }}
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

{{/* Fails the render when ingress would refuse to start: signatures checked, and neither a
PUBLIC_BASE_URL (publicBaseUrl, the Ingress's first host, or an env passthrough) nor the explicit
PUBLIC_BASE_URL_FROM_REQUEST=true opt-in. Without one, the signed URL would come from headers the
client chooses. (dict "data" $configMapData "component" .Values.ingress) */}}
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

{{/* The env entries that come from Secrets: only the keys this component reads. */}}
{{- define "chatbot.secretEnv" -}}
{{- $root := .root }}
{{- $secret := include "chatbot.secretName" $root }}
{{- $keys := $root.Values.secrets.existingSecretKeys }}
{{- $vars := dict "openaiApiKey" "OPENAI_API_KEY" "twilioAccountSid" "TWILIO_ACCOUNT_SID" "twilioAuthToken" "TWILIO_AUTH_TOKEN" "userKeySecret" "USER_KEY_SECRET" }}
{{- $wanted := get (dict
    "ingress" (list "twilioAuthToken" "userKeySecret")
    "conversation" (list "openaiApiKey" "twilioAccountSid" "twilioAuthToken" "userKeySecret")
    "sender" (list "twilioAccountSid" "twilioAuthToken" "userKeySecret")
    "test" (list "twilioAuthToken")) .component }}
{{- range $wanted }}
- name: {{ get $vars . }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ ternary (get $keys .) (get $vars .) (not (empty $root.Values.secrets.existingSecret)) }}
{{- end }}
{{- if and (ne .component "test") (include "chatbot.natsSecretName" $root) }}
- name: NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "chatbot.natsSecretName" $root }}
      key: {{ if $root.Values.nats.auth.existingSecret }}{{ $root.Values.nats.auth.existingSecretKey }}{{ else }}NATS_URL{{ end }}
{{- end }}
{{- end }}

{{/* Deployment of one component. */}}
{{- define "chatbot.deployment" -}}
{{- $root := .root }}
{{- $c := index $root.Values .component }}
{{- $probes := $root.Values.probes }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
spec:
  {{- if not $c.autoscaling.enabled }}
  replicas: {{ $c.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "chatbot.componentSelectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "chatbot.componentLabels" . | nindent 8 }}
        {{- with $c.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "chatbot.configmap" . | sha256sum }}
        {{- if not $root.Values.secrets.existingSecret }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- if and (eq .component "conversation") $c.instructions }}
        checksum/instructions: {{ $c.instructions | sha256sum }}
        {{- end }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "chatbot.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.serviceAccount.automountServiceAccountToken }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "chatbot.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ include "chatbot.port" . }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "chatbot.componentName" . }}
          env:
            {{- include "chatbot.secretEnv" . | trim | nindent 12 }}
            {{- with $c.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $probes.startup | nindent 12 }}
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
            {{- toYaml $probes.liveness | nindent 12 }}
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
            {{- toYaml $probes.readiness | nindent 12 }}
          {{- if gt (int $c.preStopSleepSeconds) 0 }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "{{ $c.preStopSleepSeconds }}"]
          {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if and (eq .component "conversation") $c.instructions }}
            - name: instructions
              mountPath: /etc/chatbot/instructions
              readOnly: true
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- if and (eq .component "conversation") $c.instructions }}
        - name: instructions
          configMap:
            name: {{ include "chatbot.componentName" . }}-instructions
        {{- end }}
      {{- with $c.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        {{- if $c.topologySpreadConstraints }}
        {{- toYaml $c.topologySpreadConstraints | nindent 8 }}
        {{- else }}
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "chatbot.componentSelectorLabels" . | nindent 14 }}
        {{- end }}
{{- end }}

{{/* HorizontalPodAutoscaler of one component, when enabled. */}}
{{- define "chatbot.hpa" -}}
{{- $root := .root }}
{{- $a := (index $root.Values .component).autoscaling }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "%s.autoscaling: minReplicas (%v) exceeds maxReplicas (%v)" .component $a.minReplicas $a.maxReplicas) }}
{{- end }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "chatbot.componentName" . }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
{{- end }}
{{- end }}

{{/* PodDisruptionBudget of one component, when enabled. */}}
{{- define "chatbot.pdb" -}}
{{- $root := .root }}
{{- $p := (index $root.Values .component).podDisruptionBudget }}
{{- if $p.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" $p.minAvailable) }}
  minAvailable: {{ $p.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $p.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "chatbot.componentSelectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/* Service of one component: webhooks for ingress, metrics for the workers. */}}
{{- define "chatbot.service" -}}
{{- $root := .root }}
{{- $s := (index $root.Values .component).service }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
  {{- with $s.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ default "ClusterIP" $s.type }}
  selector:
    {{- include "chatbot.componentSelectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $s.port }}
      targetPort: http
      protocol: TCP
{{- end }}

{{/* NetworkPolicy of one component, when enabled. */}}
{{- define "chatbot.networkpolicy" -}}
{{- $root := .root }}
{{- $np := $root.Values.networkPolicy }}
{{- if $np.enabled }}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "chatbot.componentSelectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if eq .component "ingress" }}
    # Webhooks (Twilio, through the Ingress controller or a load balancer) and scrapes.
    - ports:
        - port: http
          protocol: TCP
      {{- if and $np.ingressFrom $np.metricsFrom }}
      from:
        {{- toYaml $np.ingressFrom | nindent 8 }}
        {{- toYaml $np.metricsFrom | nindent 8 }}
        # The `helm test` pod.
        - podSelector:
            matchLabels:
              {{- include "chatbot.componentSelectorLabels" (dict "root" $root "component" "test") | nindent 14 }}
      {{- end }}
    {{- else }}
    # Metrics scrapes only: the workers take no other traffic.
    - ports:
        - port: http
          protocol: TCP
      {{- with $np.metricsFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
  egress:
    # DNS.
    - ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
      {{- with $np.dnsTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    # NATS.
    - ports:
        {{- range $np.natsPorts }}
        - port: {{ . }}
          protocol: TCP
        {{- end }}
      {{- if $root.Values.nats.enabled }}
      to:
        - podSelector:
            matchLabels:
              app.kubernetes.io/name: {{ default "nats" $root.Values.nats.nameOverride }}
              app.kubernetes.io/instance: {{ $root.Release.Name }}
      {{- else if $np.natsTo }}
      to:
        {{- toYaml $np.natsTo | nindent 8 }}
      {{- end }}
    {{- if ne .component "ingress" }}
    # {{ if eq .component "conversation" }}OpenAI (and Twilio media downloads){{ else }}Twilio{{ end }} over https.
    - ports:
        - port: 443
          protocol: TCP
      {{- with $np.internetTo }}
      to:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}
{{- end }}

{{/* ServiceMonitor of one component, when enabled. */}}
{{- define "chatbot.servicemonitor" -}}
{{- $root := .root }}
{{- $sm := $root.Values.metrics.serviceMonitor }}
{{- if $sm.enabled }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "chatbot.componentName" . }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "chatbot.componentLabels" . | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "chatbot.componentSelectorLabels" . | nindent 6 }}
  namespaceSelector:
    matchNames:
      - {{ $root.Release.Namespace }}
  endpoints:
    - port: http
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
{{- end }}
{{- end }}
