"""The second report's producer (`004_*.txt`, sections 4.0.1-4.0.3), written from its description
and code fragments: generator classes for each attribute of a "persona", the JSON of
`generar_json_datos_personas`, and `transmisor_datos_kafka.py`'s loop, which sends each JSON to a
Kafka topic with kafka-python (no key, no envelope, no event time) every 2 seconds and keeps what it
generated in a text file.

Configuration (the report hard-codes its cluster and topic; here they are settings):
  --bootstrap-servers / BOOTSTRAP_SERVERS   default "localhost:9092"
  --topic / TOPIC                           default "DataTopic" (the report's topic)
  --interval / INTERVAL_S                   seconds between two events, default 2 (the report's)
  --count / COUNT                           events to send; 0 sends until Ctrl-C (the report's)
  --seed / SEED                             a seed for repeatable runs; none by default
  --words                                   the folder of word lists, default datasets/words
  --out / OUT                               the text file each sent JSON is appended to

Run by `workers/integration/report_producer_test.ts` against a three-node cluster.
"""

import argparse
import functools
import json
import os
import random
import sys
import time

from kafka import KafkaProducer

WORDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "words")
rng = random.Random()


@functools.lru_cache(maxsize=None)
def _lines(name):
    # Read once per list: the generators ask for one word per event.
    with open(os.path.join(WORDS, name), encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


class GeneradorId:
    """A unique identifier per user: 24 hexadecimal digits, as the report's records show."""

    def generar_id(self):
        return "%024x" % rng.getrandbits(96)


class GeneradorNombre:
    """A random first name read from a text file."""

    def generar_nombre(self):
        return rng.choice(_lines("nombres.txt"))


class GeneradorApellido:
    """A random surname read from a text file."""

    def generar_apellido(self):
        return rng.choice(_lines("apellidos.txt"))


class GeneradorEdad:
    """An age within a range."""

    def generar_edad(self):
        return rng.randint(18, 90)


class GeneradorNumeroTelefonico:
    """A phone number shaped as the report's: +94 585-941-9707."""

    def generar_numero_telefonico(self):
        d = lambda n: "".join(str(rng.randint(0, 9)) for _ in range(n))
        return "+%s %s-%s-%s" % (d(2), d(3), d(3), d(4))


class GeneradorPais:
    def generar_pais(self):
        return rng.choice(_lines("paises.txt"))


class GeneradorCiudad:
    def generar_ciudad(self):
        return rng.choice(_lines("ciudades.txt"))


class GeneradorDireccion:
    def generar_direccion(self):
        return rng.choice(_lines("direcciones.txt"))


class GeneradorUbicacion:
    """A location from the city, address and country generators."""

    def generar_ubicacion(self):
        return {
            "direccion": GeneradorDireccion().generar_direccion(),
            "ciudad": GeneradorCiudad().generar_ciudad(),
            "pais": GeneradorPais().generar_pais(),
        }


class GeneradorProductoVisto:
    """The product the user looked at, read from a text file."""

    def generar_producto_visto(self):
        return rng.choice(_lines("productos.txt"))


class GeneradorTAPS:
    """A purchase time in minutes, which may be null ("null o vacío": None, 0 or "")."""

    def generar_taps(self):
        roll = rng.random()
        if roll < 0.15:
            return None
        if roll < 0.25:
            return 0
        if roll < 0.3:
            return ""
        if roll < 0.7:
            return round(rng.uniform(0.1, 29.9), 1)
        return round(rng.uniform(30, 90), 1)


class GeneradorFolio:
    """A transaction folio (AAA-0000) only when the purchase time is valid."""

    def generar_folio(self, taps):
        if taps is None or taps == "" or taps == 0:
            return None
        letters = "".join(chr(65 + rng.randint(0, 25)) for _ in range(3))
        return "%s-%04d" % (letters, rng.randint(0, 9999))


class GeneradorJSONDatosPersonas:
    def generar_json_datos_personas(self):
        id = GeneradorId().generar_id()
        nombre = GeneradorNombre().generar_nombre()
        apellido = GeneradorApellido().generar_apellido()
        edad = GeneradorEdad().generar_edad()
        telefono = GeneradorNumeroTelefonico().generar_numero_telefonico()
        ubicacion = GeneradorUbicacion().generar_ubicacion()
        producto_visto = GeneradorProductoVisto().generar_producto_visto()
        taps = GeneradorTAPS().generar_taps()
        # Generamos el folio utilizando la nueva lógica dentro de GeneradorFolio
        folio = GeneradorFolio().generar_folio(taps)
        email = f"{nombre}.{apellido}@mail.com"
        datos_persona = {
            "id": id,
            "nombre": nombre,
            "apellido": apellido,
            "edad": edad,
            "email": email,
            "telefono": telefono,
            "ubicacion": ubicacion,
            "productovisto": producto_visto,
            "taps": taps,
            "folio": folio,
        }
        datos_persona_json = json.dumps(datos_persona)
        return datos_persona_json


def main():
    global WORDS
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", default=env("BOOTSTRAP_SERVERS", "localhost:9092"))
    parser.add_argument("--topic", default=env("TOPIC", "DataTopic"))
    parser.add_argument("--interval", type=float, default=float(env("INTERVAL_S", "2")))
    parser.add_argument("--count", type=int, default=int(env("COUNT", "0")))
    parser.add_argument("--seed", type=int, default=None if env("SEED") is None else int(env("SEED")))
    parser.add_argument("--words", default=WORDS)
    parser.add_argument("--out", default=env("OUT", "datos_personas.txt"))
    args = parser.parse_args()
    WORDS = args.words
    if args.seed is not None:
        rng.seed(args.seed)

    # Instanciación del Productor Kafka
    producer = KafkaProducer(bootstrap_servers=args.bootstrap_servers.split(","))
    gen_datos_persona = GeneradorJSONDatosPersonas()
    sent = 0
    try:
        with open(args.out, "a", encoding="utf-8") as out:
            while args.count == 0 or sent < args.count:
                # Luego la generación y envio de datos:
                datos_persona = gen_datos_persona.generar_json_datos_personas()
                producer.send(args.topic, value=str(datos_persona).encode("utf-8"))
                out.write(datos_persona + "\n")
                sent += 1
                if sent % 100 == 0:
                    print("sent %d" % sent, file=sys.stderr, flush=True)
                time.sleep(args.interval)  # Esperar antes de enviar el próximo
    except KeyboardInterrupt:
        pass
    finally:
        # Posteriormente el cierre del productor:
        producer.flush()
        producer.close()
    print("sent %d events to %s" % (sent, args.topic), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
