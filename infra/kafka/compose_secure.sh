#!/bin/bash
# compose.yaml's Kafka, in the apache/kafka image: on first start makes a CA, the broker's
# certificate (for the host name "kafka") and one password per user in the kafka-secrets volume,
# one folder per user (`/secrets/<user>/password`, `ca.pem`: each Despacho service mounts only its
# own); formats the storage with the SCRAM users; starts the broker with a SASL_SSL listener and
# the StandardAuthorizer. The same settings as `infra/kafka_secure.ts` (the local cluster).
set -euo pipefail
S=${SECRETS_DIR:-/secrets}
BIN=${KAFKA_BIN:-/opt/kafka/bin}
DATA=${KAFKA_DATA:-/var/lib/kafka/data}
USERS="broker admin gateway processing notification purchase-analytics producer"
umask 022

if [ ! -f "$S/broker.p12" ]; then
  for u in $USERS; do
    mkdir -p "$S/$u"
    head -c 24 /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n' > "$S/$u/password"
  done
  K=$(cat "$S/broker/password")
  keytool -genkeypair -alias ca -dname "CN=Despacho Kafka CA" -ext bc:c -keyalg RSA \
    -keysize 2048 -validity 825 -keystore "$S/ca.p12" -storetype PKCS12 -storepass "$K"
  keytool -exportcert -rfc -alias ca -keystore "$S/ca.p12" -storepass "$K" > "$S/ca.pem"
  keytool -genkeypair -alias broker -dname "CN=kafka" -keyalg RSA -keysize 2048 -validity 825 \
    -keystore "$S/broker.p12" -storetype PKCS12 -storepass "$K"
  keytool -certreq -alias broker -keystore "$S/broker.p12" -storepass "$K" |
    keytool -gencert -alias ca -keystore "$S/ca.p12" -storepass "$K" -validity 825 -rfc \
      -ext "SAN=DNS:kafka,DNS:localhost,IP:127.0.0.1" > "$S/broker.pem"
  keytool -importcert -noprompt -alias ca -file "$S/ca.pem" -keystore "$S/broker.p12" -storepass "$K"
  keytool -importcert -alias broker -file "$S/broker.pem" -keystore "$S/broker.p12" -storepass "$K"
  for u in $USERS; do cp "$S/ca.pem" "$S/$u/ca.pem"; done
  # The admin's client settings, for the health check's kafka-broker-api-versions.sh.
  printf '%s\n' "security.protocol=SASL_SSL" "sasl.mechanism=SCRAM-SHA-512" \
    "ssl.truststore.type=PEM" "ssl.truststore.location=$S/ca.pem" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$(cat "$S/admin/password")\";" \
    > "$S/admin.properties"
  # The CA's key signs nothing more: gone. The broker's own secrets stay with the broker (the
  # volume's root is mounted by no other service).
  rm "$S/ca.p12"
  chmod 600 "$S/broker.p12" "$S/admin.properties"
fi

K=$(cat "$S/broker/password")
P=${KAFKA_PROPERTIES:-/opt/kafka/config/despacho.properties}
cat > "$P" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka:9093
listeners=SASL_SSL://:9092,CONTROLLER://:9093
advertised.listeners=SASL_SSL://kafka:9092
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="$K";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$K" user_broker="$K";
ssl.keystore.type=PKCS12
ssl.keystore.location=$S/broker.p12
ssl.keystore.password=$K
ssl.key.password=$K
ssl.truststore.type=PEM
ssl.truststore.location=$S/ca.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker;User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$DATA
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
chmod 600 "$P"

if [ ! -f $DATA/meta.properties ]; then
  SCRAM=()
  for u in $USERS; do
    SCRAM+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(cat "$S/$u/password")]")
  done
  $BIN/kafka-storage.sh format --cluster-id "$($BIN/kafka-storage.sh random-uuid)" \
    -c "$P" "${SCRAM[@]}"
fi
exec $BIN/kafka-server-start.sh "$P"
