{{/*
Secret volumes: the Secrets every process needs (Kafka, the database, the schema registry),
plus those named in `.extra` (ingest's key, the link keys, a channel's provider accounts). Each projects only
the keys the configuration refers to, under secretsDir/<folder>/.
*/}}
{{- define "notify.secretMounts" -}}
{{- $root := .root -}}
{{- $s := $root.Values.secrets -}}
{{- $mounts := list -}}
{{- if $s.kafka.existingSecret -}}
{{- $keys := concat (values (default dict $s.kafka.properties)) (values (default dict $s.kafka.files)) | uniq | sortAlpha -}}
{{- $mounts = append $mounts (dict "folder" "kafka" "secret" $s.kafka.existingSecret "keys" $keys) -}}
{{- end -}}
{{- if $s.store.existingSecret -}}
{{- $keys := compact (list $s.store.passwordKey $s.store.caKey $s.store.certKey $s.store.keyKey) | uniq -}}
{{- $mounts = append $mounts (dict "folder" "store" "secret" $s.store.existingSecret "keys" $keys) -}}
{{- end -}}
{{- if and $s.schemaRegistry.existingSecret $s.schemaRegistry.passwordKey -}}
{{- $mounts = append $mounts (dict "folder" "schema-registry" "secret" $s.schemaRegistry.existingSecret "keys" (list $s.schemaRegistry.passwordKey)) -}}
{{- end -}}
{{- range .extra -}}
{{- if eq . "ingest" -}}
{{- if $s.ingest.existingSecret -}}
{{- $mounts = append $mounts (dict "folder" "ingest" "secret" $s.ingest.existingSecret "keys" (list $s.ingest.secretsKeyKey)) -}}
{{- end -}}
{{- else if eq . "vonage-signature" -}}
{{- /* the gateway needs only the secret Vonage signs receipts with, not the API secret */ -}}
{{- $v := $s.providers.vonage -}}
{{- if and $v.existingSecret $v.signatureKey -}}
{{- $mounts = append $mounts (dict "folder" "vonage" "secret" $v.existingSecret "keys" (list $v.signatureKey)) -}}
{{- end -}}
{{- else if eq . "smtp-dsn" -}}
{{- /* the gateway needs only the secret bounce messages are forwarded with, not the password */ -}}
{{- $m := $s.providers.smtp -}}
{{- if and $m.existingSecret $m.dsnSecretKey -}}
{{- $mounts = append $mounts (dict "folder" "smtp" "secret" $m.existingSecret "keys" (list $m.dsnSecretKey)) -}}
{{- end -}}
{{- else if eq . "links" -}}
{{- if $s.links.existingSecret -}}
{{- $mounts = append $mounts (dict "folder" "links" "secret" $s.links.existingSecret "keys" $s.links.keys) -}}
{{- end -}}
{{- else -}}
{{- $p := get $s.providers . -}}
{{- if and $p $p.existingSecret -}}
{{- $mounts = append $mounts (dict "folder" . "secret" $p.existingSecret "keys" (compact (list $p.key (default "" $p.signatureKey)) | uniq)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "mounts" $mounts) -}}
{{- end -}}

{{/*
The pod spec of a notify process. Arguments: root, component, args (after `notify`), extra
(secret folders beyond the shared ones), grace (terminationGracePeriodSeconds or empty for a
Job), api (true for ingest), preStop (seconds), resources, restartPolicy.
*/}}
{{- define "notify.podSpec" -}}
{{- $root := .root -}}
{{- $mounts := (include "notify.secretMounts" . | fromYaml).mounts -}}
serviceAccountName: {{ .serviceAccount | default (include "notify.serviceAccountName" $root) }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with .grace }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and .grace $root.Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $root.Values.topologySpreadConstraints | nindent 2 }}
{{- end }}
containers:
  - name: notify
    image: {{ include "notify.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      {{- range .args }}
      - {{ . | quote }}
      {{- end }}
      - --config
      - /etc/notify/notify.toml
    env:
      # so `kubectl exec ... -- notify <tool>` reads the same file
      - name: NOTIFY_CONFIG
        value: /etc/notify/notify.toml
      {{- with $root.Values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- if .grace }}
    ports:
      {{- if .api }}
      - name: http
        containerPort: {{ $root.Values.ports.api }}
        protocol: TCP
      {{- end }}
      - name: admin
        containerPort: {{ $root.Values.ports.admin }}
        protocol: TCP
    livenessProbe:
      httpGet: {path: /healthz, port: admin}
      {{- toYaml $root.Values.probes.liveness | nindent 6 }}
    readinessProbe:
      {{- /* ingest's admin /readyz has no checks; its API /readyz checks Kafka and the database */}}
      httpGet: {path: /readyz, port: {{ .api | ternary "http" "admin" }}}
      {{- toYaml $root.Values.probes.readiness | nindent 6 }}
    {{- end }}
    {{- if .preStop }}
    lifecycle:
      preStop:
        sleep: {seconds: {{ .preStop }}}
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: config
        mountPath: /etc/notify
        readOnly: true
      - name: tmp
        mountPath: /tmp
      {{- range $mounts }}
      - name: secret-{{ .folder }}
        mountPath: {{ printf "%s/%s" $root.Values.secretsDir .folder }}
        readOnly: true
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ .configMap | default (printf "%s-config" (include "notify.fullname" $root)) }}
  - name: tmp
    emptyDir: {sizeLimit: 64Mi}
  {{- range $mounts }}
  - name: secret-{{ .folder }}
    secret:
      secretName: {{ .secret }}
      defaultMode: 0440
      {{- with .keys }}
      items:
        {{- range . }}
        - {key: {{ . | quote }}, path: {{ . | quote }}}
        {{- end }}
      {{- end }}
  {{- end }}
{{- end -}}

{{/* A Deployment of one stage. Arguments: root, component, name, args, extra, settings, api, kind. */}}
{{- define "notify.deployment" -}}
{{- $root := .root -}}
{{- $labels := dict "root" $root "component" .component -}}
{{- $preStop := .api | ternary (int $root.Values.ingest.preStopSleepSeconds) 0 -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  labels:
    {{- include "notify.labels" $labels | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .settings.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  selector:
    matchLabels:
      {{- include "notify.selectorLabels" $labels | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "notify.selectorLabels" $labels | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "notify.configToml" $root | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "notify.podSpec" (dict "root" $root "args" .args "extra" .extra "resources" .settings.resources "api" .api "preStop" $preStop "grace" (include "notify.terminationGrace" (dict "root" $root "component" .kind "preStop" $preStop))) | nindent 6 }}
{{- end -}}
