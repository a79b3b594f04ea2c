{{/* Names and labels. */}}
{{- define "notify.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "notify.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" -}}
{{- else if contains (include "notify.name" .) .Release.Name -}}
{{- .Release.Name | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "notify.name" .) | trunc 38 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "notify.selectorLabels" -}}
app.kubernetes.io/name: {{ include "notify.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "notify.labels" -}}
{{ include "notify.selectorLabels" . }}
app.kubernetes.io/part-of: notify
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "notify.image" -}}
{{- $i := .Values.image -}}
{{- if $i.digest -}}
{{- printf "%s@%s" $i.repository $i.digest -}}
{{- else -}}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) -}}
{{- end -}}
{{- end -}}

{{- define "notify.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "notify.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The settings the chart itself reads, with the binary's defaults (common/src/config/) where
values leave them out.
*/}}
{{- define "notify.topicPrefix" -}}{{ dig "kafka" "topic_prefix" "notify" .Values.config }}{{- end -}}
{{- define "notify.brokers" -}}{{ dig "kafka" "brokers" "127.0.0.1:9092" .Values.config }}{{- end -}}
{{- define "notify.partitions.requests" -}}{{ dig "kafka" "partitions" "requests" 12 .Values.config | int64 }}{{- end -}}
{{- define "notify.partitions.deliveries" -}}{{ dig "kafka" "partitions" "deliveries" 12 .Values.config | int64 }}{{- end -}}
{{- define "notify.routerGroup" -}}{{ dig "router" "group_id" "notify-router" .Values.config }}{{- end -}}
{{- define "notify.dispatchGroupPrefix" -}}{{ dig "dispatch" "group_id_prefix" "notify-dispatch" .Values.config }}{{- end -}}
{{- define "notify.graceMs" -}}{{ dig "shutdown" "grace_period_ms" 30000 .Values.config | int64 }}{{- end -}}
{{- define "notify.drainMs" -}}{{ dig "dispatch" "drain_deadline_ms" 20000 .Values.config | int64 }}{{- end -}}

{{/* terminationGracePeriodSeconds: the drain the process may take, rounded up, plus margins. */}}
{{- define "notify.terminationGrace" -}}
{{- $ms := int64 (include "notify.graceMs" .root) -}}
{{- if eq .component "dispatch" -}}{{- $ms = add $ms (int64 (include "notify.drainMs" .root)) -}}{{- end -}}
{{- $s := div (add $ms 999) 1000 -}}
{{- add $s (int64 .root.Values.terminationGraceMarginSeconds) (int64 (default 0 .preStop)) -}}
{{- end -}}

{{/* Channels and the provider accounts whose secrets each channel's dispatcher mounts. */}}
{{- define "notify.channelProviders" -}}
apns: [apns]
fcm: [fcm]
webpush: [webpush]
sms: [twilio, vonage]
email: [sendgrid, smtp]
{{- end -}}

{{/* The provider field each provider's secret fills: `path` is a file name, `ref` a { file } table. */}}
{{- define "notify.providerSecretFields" -}}
apns: {field: key_file, form: path}
fcm: {field: service_account_file, form: path}
webpush: {field: vapid_key_file, form: path}
twilio: {field: auth_token, form: ref}
vonage: {field: api_secret, form: ref}
sendgrid: {field: api_key, form: ref}
smtp: {field: password, form: ref}
{{- end -}}

{{/* Refuses values that would put a secret in the ConfigMap or contradict the topic layout. */}}
{{- define "notify.validate" -}}
{{- $root := . -}}
{{- range $k, $_ := (dig "kafka" "client_properties" dict .Values.config) -}}
{{- if regexMatch "(?i)(password|secret|jaas|oauthbearer\\.config|key\\.pem|certificate\\.pem)" $k -}}
{{- fail (printf "config.kafka.client_properties.%s looks like a secret: name it in secrets.kafka.properties (a key of secrets.kafka.existingSecret) instead" $k) -}}
{{- end -}}
{{- end -}}
{{- $ing := dig "ingest" dict .Values.config -}}
{{- if or (hasKey $ing "listen_addr") (hasKey (dig "telemetry" dict .Values.config) "metrics_addr") -}}
{{- fail "config.ingest.listen_addr and config.telemetry.metrics_addr come from ports.api and ports.admin: set those instead" -}}
{{- end -}}
{{- $requests := int64 (include "notify.partitions.requests" .) -}}
{{- $deliveries := int64 (include "notify.partitions.deliveries" .) -}}
{{- if .Values.router.enabled -}}
{{- include "notify.checkReplicas" (dict "name" "router" "s" .Values.router "partitions" $requests "topic" "requests" "keda" .Values.keda.enabled) -}}
{{- end -}}
{{- if and .Values.keda.enabled .Values.router.enabled (lt (int64 .Values.router.keda.minReplicaCount) 1) -}}
{{- fail "router.keda.minReplicaCount must be at least 1: the routers also run the scheduler that re-emits deferred notifications" -}}
{{- end -}}
{{- $movers := 0 -}}
{{- range $ch, $d := .Values.dispatchers -}}
{{- if and $d.enabled (or (not $root.Values.keda.enabled) (ge (int64 $d.keda.minReplicaCount) 1)) -}}{{- $movers = add1 $movers -}}{{- end -}}
{{- end -}}
{{- if and .Values.keda.enabled (eq (int $movers) 0) -}}
{{- fail "keda: keep minReplicaCount at least 1 for one enabled dispatcher: the dispatchers also run the retry movers of every channel" -}}
{{- end -}}
{{- range $ch, $d := .Values.dispatchers -}}
{{- if not (hasKey (include "notify.channelProviders" $root | fromYaml) $ch) -}}
{{- fail (printf "dispatchers.%s: unknown channel (apns, fcm, webpush, sms or email)" $ch) -}}
{{- end -}}
{{- if $d.enabled -}}
{{- include "notify.checkReplicas" (dict "name" (printf "dispatchers.%s" $ch) "s" $d "partitions" $deliveries "topic" "deliveries" "keda" $root.Values.keda.enabled) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "notify.checkReplicas" -}}
{{- $max := int64 .s.replicas -}}
{{- $what := "replicas" -}}
{{- if .keda -}}
{{- $max = int64 .s.keda.maxReplicaCount -}}
{{- $what = "keda.maxReplicaCount" -}}
{{- if gt (int64 .s.keda.minReplicaCount) $max -}}
{{- fail (printf "%s.keda.minReplicaCount is above its maxReplicaCount" .name) -}}
{{- end -}}
{{- end -}}
{{- if gt $max .partitions -}}
{{- fail (printf "%s.%s = %d exceeds config.kafka.partitions.%s = %d: a consumer group uses at most one consumer per partition, the rest would idle" .name $what $max .topic .partitions) -}}
{{- end -}}
{{- end -}}

{{/* The enabled stages, as component names (ingest, router, dispatch-<channel>). */}}
{{- define "notify.components" -}}
{{- $out := list -}}
{{- if .Values.ingest.enabled -}}{{- $out = append $out "ingest" -}}{{- end -}}
{{- if .Values.router.enabled -}}{{- $out = append $out "router" -}}{{- end -}}
{{- if .Values.webhooks.enabled -}}{{- $out = append $out "webhooks" -}}{{- end -}}
{{- range $channel, $d := .Values.dispatchers -}}
{{- if $d.enabled -}}{{- $out = append $out (printf "dispatch-%s" $channel) -}}{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}
