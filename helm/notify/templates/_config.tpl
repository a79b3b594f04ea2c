{{/*
notify.toml: `config` from values, the listen addresses from `ports`, and every secret as a
reference to the file its Secret is mounted as. Returned as YAML (fromYaml to use it).
*/}}
{{- define "notify.configDict" -}}
{{- $root := . -}}
{{- $dir := .Values.secretsDir -}}
{{- $c := deepCopy (default dict .Values.config) -}}
{{- range $section := list "kafka" "store" "ingest" "telemetry" "dispatch" "schema_registry" -}}
{{- $_ := set $c $section (default dict (get $c $section)) -}}
{{- end -}}
{{- $_ := set $c.ingest "listen_addr" (printf "0.0.0.0:%d" (int .Values.ports.api)) -}}
{{- $_ := set $c.telemetry "metrics_addr" (printf "0.0.0.0:%d" (int .Values.ports.admin)) -}}
{{- /* Kafka: secret properties as { file } references, file properties as mounted paths */ -}}
{{- $k := .Values.secrets.kafka -}}
{{- if and (or $k.properties $k.files) (not $k.existingSecret) -}}
{{- fail "secrets.kafka.properties and .files need secrets.kafka.existingSecret" -}}
{{- end -}}
{{- if $k.properties -}}
{{- $sp := default dict (get $c.kafka "secret_properties") -}}
{{- range $prop, $key := $k.properties -}}
{{- $_ := set $sp $prop (dict "file" (printf "%s/kafka/%s" $dir $key)) -}}
{{- end -}}
{{- $_ := set $c.kafka "secret_properties" $sp -}}
{{- end -}}
{{- if $k.files -}}
{{- $cp := default dict (get $c.kafka "client_properties") -}}
{{- range $prop, $key := $k.files -}}
{{- $_ := set $cp $prop (printf "%s/kafka/%s" $dir $key) -}}
{{- end -}}
{{- $_ := set $c.kafka "client_properties" $cp -}}
{{- end -}}
{{- /* the database: password and TLS files */ -}}
{{- $s := .Values.secrets.store -}}
{{- if and (or $s.passwordKey $s.caKey $s.certKey $s.keyKey) (not $s.existingSecret) -}}
{{- fail "secrets.store keys need secrets.store.existingSecret" -}}
{{- end -}}
{{- if $s.passwordKey -}}
{{- if not (get $c.store "username") -}}{{- fail "secrets.store.passwordKey needs config.store.username" -}}{{- end -}}
{{- $_ := set $c.store "password" (dict "file" (printf "%s/store/%s" $dir $s.passwordKey)) -}}
{{- end -}}
{{- if $s.caKey -}}
{{- $tls := dict "ca_file" (printf "%s/store/%s" $dir $s.caKey) -}}
{{- if or $s.certKey $s.keyKey -}}
{{- $_ := set $tls "cert_file" (printf "%s/store/%s" $dir (required "secrets.store.certKey goes with keyKey" $s.certKey)) -}}
{{- $_ := set $tls "key_file" (printf "%s/store/%s" $dir (required "secrets.store.keyKey goes with certKey" $s.keyKey)) -}}
{{- end -}}
{{- $_ := set $c.store "tls" $tls -}}
{{- else if or $s.certKey $s.keyKey -}}
{{- fail "secrets.store.certKey and keyKey need secrets.store.caKey (TLS to the nodes)" -}}
{{- end -}}
{{- $r := .Values.secrets.schemaRegistry -}}
{{- if $r.passwordKey -}}
{{- $_ := required "secrets.schemaRegistry.passwordKey needs secrets.schemaRegistry.existingSecret" $r.existingSecret -}}
{{- $_ := set $c.schema_registry "password" (dict "file" (printf "%s/schema-registry/%s" $dir $r.passwordKey)) -}}
{{- end -}}
{{- if .Values.secrets.ingest.existingSecret -}}
{{- $_ := set $c.ingest "secrets_key_file" (printf "%s/ingest/%s" $dir .Values.secrets.ingest.secretsKeyKey) -}}
{{- end -}}
{{- /* providers: the secret field of each account comes from its Secret, never from values */ -}}
{{- $providers := default dict (get $c.dispatch "providers") -}}
{{- range $name, $f := (include "notify.providerSecretFields" $root | fromYaml) -}}
{{- $table := get $providers $name -}}
{{- if and $table (hasKey $table $f.field) -}}
{{- fail (printf "config.dispatch.providers.%s.%s is a secret: set secrets.providers.%s.existingSecret instead" $name $f.field $name) -}}
{{- end -}}
{{- $sec := get $root.Values.secrets.providers $name -}}
{{- if and $sec $sec.existingSecret -}}
{{- if not $table -}}
{{- fail (printf "secrets.providers.%s is set but config.dispatch.providers.%s has no settings" $name $name) -}}
{{- end -}}
{{- $path := printf "%s/%s/%s" $dir $name $sec.key -}}
{{- $_ := set $table $f.field (eq $f.form "ref" | ternary (dict "file" $path) $path) -}}
{{- end -}}
{{- end -}}
{{- /* Vonage's signature secret (delivery receipts) comes from the same Secret */ -}}
{{- $vonage := get $providers "vonage" -}}
{{- $vsec := $root.Values.secrets.providers.vonage -}}
{{- if and $vonage (hasKey $vonage "signature_secret") -}}
{{- fail "config.dispatch.providers.vonage.signature_secret is a secret: set secrets.providers.vonage.signatureKey instead" -}}
{{- end -}}
{{- if and $vsec $vsec.signatureKey -}}
{{- $_ := required "secrets.providers.vonage.signatureKey needs secrets.providers.vonage.existingSecret" $vsec.existingSecret -}}
{{- $_ := set $vonage "signature_secret" (dict "file" (printf "%s/vonage/%s" $dir $vsec.signatureKey)) -}}
{{- else if and $vonage (get $vonage "delivery_receipt_url") -}}
{{- fail "config.dispatch.providers.vonage.delivery_receipt_url needs secrets.providers.vonage.signatureKey: receipts are checked with the signature secret" -}}
{{- end -}}
{{- /* the SMTP relay's bounce mailbox forwards DSNs with a shared secret from the same Secret */ -}}
{{- $smtp := get $providers "smtp" -}}
{{- $ssec := $root.Values.secrets.providers.smtp -}}
{{- if and $smtp (hasKey $smtp "dsn_secret") -}}
{{- fail "config.dispatch.providers.smtp.dsn_secret is a secret: set secrets.providers.smtp.dsnSecretKey instead" -}}
{{- end -}}
{{- if and $ssec $ssec.dsnSecretKey -}}
{{- $_ := required "secrets.providers.smtp.dsnSecretKey needs secrets.providers.smtp.existingSecret" $ssec.existingSecret -}}
{{- if not $smtp -}}
{{- fail "secrets.providers.smtp.dsnSecretKey is set but config.dispatch.providers.smtp has no settings" -}}
{{- end -}}
{{- $_ := set $smtp "dsn_secret" (dict "file" (printf "%s/smtp/%s" $dir $ssec.dsnSecretKey)) -}}
{{- end -}}
{{- $_ := set $c.dispatch "providers" $providers -}}
{{- /* links back to the gateway: the signing keys come from secrets.links */ -}}
{{- $links := default dict (get $c "links") -}}
{{- if hasKey $links "keys" -}}
{{- fail "config.links.keys are secrets: set secrets.links.existingSecret (and secrets.links.keys) instead" -}}
{{- end -}}
{{- $l := .Values.secrets.links -}}
{{- if get $links "public_base_url" -}}
{{- $_ := required "config.links.public_base_url needs secrets.links.existingSecret (the keys that sign the links)" $l.existingSecret -}}
{{- $refs := list -}}
{{- range $key := $l.keys -}}
{{- $refs = append $refs (dict "file" (printf "%s/links/%s" $dir $key)) -}}
{{- end -}}
{{- $_ := set $links "keys" $refs -}}
{{- $_ := set $c "links" $links -}}
{{- end -}}
{{- toYaml $c -}}
{{- end -}}

{{- define "notify.configToml" -}}
# notify.toml rendered by the Helm chart from `config` in values; secrets are file references.
{{ include "notify.toml.table" (dict "path" list "table" (include "notify.configDict" . | fromYaml)) | trim }}
{{- end -}}

{{/* One TOML table: its plain keys, then each sub-table under its own header. */}}
{{- define "notify.toml.table" -}}
{{- $plain := list -}}
{{- $tables := list -}}
{{- range $k, $v := .table -}}
{{- if kindIs "invalid" $v -}}
{{- else if and (kindIs "map" $v) (not (include "notify.toml.isRef" $v)) -}}
{{- $tables = append $tables $k -}}
{{- else -}}
{{- $plain = append $plain $k -}}
{{- end -}}
{{- end -}}
{{- if and .path (or $plain (not $tables)) }}
[{{ include "notify.toml.keyPath" .path }}]
{{- end -}}
{{- range $k := $plain }}
{{ include "notify.toml.key" $k }} = {{ include "notify.toml.value" (get $.table $k) }}
{{- end -}}
{{- range $k := $tables }}
{{ include "notify.toml.table" (dict "path" (append $.path $k) "table" (get $.table $k)) }}
{{- end -}}
{{- end -}}

{{/* A secret reference: a table of exactly `file` or `env`, kept inline. */}}
{{- define "notify.toml.isRef" -}}
{{- if and (eq (len .) 1) (or (hasKey . "file") (hasKey . "env")) -}}true{{- end -}}
{{- end -}}

{{- define "notify.toml.key" -}}
{{- if regexMatch "^[A-Za-z0-9_-]+$" . -}}{{ . }}{{- else -}}{{ toJson . }}{{- end -}}
{{- end -}}

{{- define "notify.toml.keyPath" -}}
{{- $parts := list -}}
{{- range . -}}{{- $parts = append $parts (include "notify.toml.key" .) -}}{{- end -}}
{{- join "." $parts -}}
{{- end -}}

{{/* A TOML value; YAML numbers arrive as float64, so whole ones are written as integers. */}}
{{- define "notify.toml.value" -}}
{{- if kindIs "string" . -}}{{ toJson . }}
{{- else if kindIs "bool" . -}}{{ . }}
{{- else if or (kindIs "int" .) (kindIs "int64" .) -}}{{ printf "%d" . }}
{{- else if kindIs "float64" . -}}
{{- if eq . (float64 (int64 .)) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if kindIs "slice" . -}}
{{- $items := list -}}
{{- range . -}}{{- $items = append $items (include "notify.toml.value" .) -}}{{- end -}}
[{{ join ", " $items }}]
{{- else if kindIs "map" . -}}
{{- $items := list -}}
{{- range $k, $v := . -}}{{- $items = append $items (printf "%s = %s" (include "notify.toml.key" $k) (include "notify.toml.value" $v)) -}}{{- end -}}
{ {{- join ", " $items -}} }
{{- else -}}
{{- fail (printf "config: cannot write %v (%s) as TOML" . (kindOf .)) -}}
{{- end -}}
{{- end -}}
