// Reads a .properties file with java.util.Properties.load (the reader every
// Java application uses) and prints each entry as NAME<TAB>VALUE with both
// escaped as JSON strings, for fetch's format tests.
import java.io.FileInputStream;
import java.util.Properties;
import java.util.TreeSet;

public class LoadProperties {
    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            p.load(in); // ISO-8859-1, as Java reads .properties by default
        }
        for (String k : new TreeSet<>(p.stringPropertyNames())) {
            System.out.println(json(k) + "\t" + json(p.getProperty(k)));
        }
    }
}
