package io.notify.examples;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.zip.CRC32;

import org.apache.kafka.clients.producer.Partitioner;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.PartitionInfo;

/**
 * The partitioner of librdkafka called {@code consistent_random}, which the platform's own
 * producers use (the gateway, {@code notify produce}, and the clients built on librdkafka): a
 * record with a key goes to partition {@code CRC-32(key) mod partitions}; a record without a key
 * to a random available partition.
 *
 * <p>The Java client's built-in partitioner hashes keys with murmur2 instead, so without this
 * class the records of one user could land on another partition than that user's records from the
 * gateway, and the router would no longer see them in the order they were written (see
 * docs/producers.md, "Why that key").
 */
public final class ConsistentRandomPartitioner implements Partitioner {

    @Override
    public int partition(String topic, Object key, byte[] keyBytes, Object value, byte[] valueBytes,
            Cluster cluster) {
        List<PartitionInfo> partitions = cluster.partitionsForTopic(topic);
        int count = partitions.size();
        if (keyBytes == null || keyBytes.length == 0) {
            List<PartitionInfo> available = cluster.availablePartitionsForTopic(topic);
            List<PartitionInfo> from = available.isEmpty() ? partitions : available;
            return from.get(ThreadLocalRandom.current().nextInt(from.size())).partition();
        }
        return partitionForKey(keyBytes, count);
    }

    /** CRC-32 (the zlib polynomial, as librdkafka's rd_crc32) of the key, unsigned, modulo the count. */
    static int partitionForKey(byte[] keyBytes, int partitionCount) {
        CRC32 crc = new CRC32();
        crc.update(keyBytes, 0, keyBytes.length);
        return (int) (crc.getValue() % partitionCount);
    }

    @Override
    public void configure(Map<String, ?> configs) {
    }

    @Override
    public void close() {
    }
}
