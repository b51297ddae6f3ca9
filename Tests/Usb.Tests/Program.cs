namespace Usb.Tests
{
    public static class Program
    {
        public static int Main(string[] args)
        {
            System.Console.Error.WriteLine("usage: Usb.Tests fuzz [inputs] [seed]");
            return 2;
        }
    }
}
