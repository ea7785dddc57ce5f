// HdrHistogram's own printer, as the reference for chaos's .hgrm files: decodes a histogram in
// the compressed base64 form of report.json and prints its percentile distribution in ms.
// Run: java -cp /usr/share/java/hdrhistogram.jar PercentileDistribution.java BASE64
import java.nio.ByteBuffer;
import java.util.Base64;
import org.HdrHistogram.Histogram;

public class PercentileDistribution {
    public static void main(String[] args) throws Exception {
        byte[] bytes = Base64.getDecoder().decode(args[0]);
        Histogram h = Histogram.decodeFromCompressedByteBuffer(ByteBuffer.wrap(bytes), 0);
        h.outputPercentileDistribution(System.out, 1000.0);
    }
}
