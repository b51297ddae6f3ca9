using System;
using System.Collections.Generic;
using Platform;

namespace Drivers.Usb.Descriptors
{
    /// <summary>
    /// Parses a configuration descriptor set (USB 2.0 9.6.3: configuration, then interfaces each
    /// followed by their class descriptors and endpoints, with IADs and SuperSpeed companions)
    /// into the device model. Strict, like a validator: wTotalLength lies, truncation, zero
    /// lengths (loops), misplaced descriptors, duplicate interfaces and counts that disagree are
    /// errors. Every access is bounds-checked against the input.
    /// Endpoints the core could not use safely are skipped with a warning, as Linux config.c
    /// does, and the rest of the configuration stays usable: an invalid address (number 0,
    /// reserved bits), a duplicate address (in the same alternate setting or in any setting of
    /// another interface: both would claim the same slot of the device's endpoint table) and a
    /// wMaxPacketSize of 0 (except isochronous endpoints of setting 0, USB 2.0 5.6.3).
    /// </summary>
    public static class ConfigurationParser
    {
        /// <summary>bInterfaceNumber is one byte, so an IAD cannot reach past 255.</summary>
        const int InterfaceNumberLimit = 256;

        /// <param name="deviceName">Prefix of the warnings about skipped endpoints ("1-1"); optional.</param>
        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out UsbConfiguration config, string deviceName = null)
        {
            config = new UsbConfiguration();
            DescriptorProblem p = ConfigurationDescriptor.ParseHeader(data, out ConfigurationDescriptor header);
            if (!p.IsOk)
                return p;
            if (header.wTotalLength > data.Length)
                return new DescriptorProblem(DescriptorError.Truncated, 2);
            config.Descriptor = header;
            int total = header.wTotalLength;
            ReadOnlySpan<byte> body = data.Slice(0, total);
            config.Raw = Le.ToArray(body);

            var interfaces = new List<UsbInterface>();
            var altLists = new List<List<UsbAltSetting>>();
            var associations = new List<InterfaceAssociationDescriptor>();
            var configExtra = new List<byte>();
            List<byte> altExtra = null;
            List<byte> endpointExtra = null;
            List<UsbEndpoint> endpoints = null;
            UsbAltSetting alt = null;
            UsbEndpoint endpoint = null;
            // Endpoint descriptors of the current setting, skipped ones included (bNumEndpoints counts them).
            int endpointDescriptors = 0;
            // After a skipped endpoint, its companion and class descriptors go with it.
            bool skipping = false;

            int offset = header.bLength;
            while (offset < total)
            {
                int remaining = total - offset;
                if (remaining < DescriptorHeader.Size)
                    return new DescriptorProblem(DescriptorError.Truncated, offset);
                int length = body[offset];
                byte type = body[offset + 1];
                if (length < DescriptorHeader.Size)
                    return new DescriptorProblem(DescriptorError.BadLength, offset);
                if (length > remaining)
                    return new DescriptorProblem(DescriptorError.Truncated, offset);
                ReadOnlySpan<byte> d = body.Slice(offset, length);

                switch (type)
                {
                    case DescriptorType.Interface:
                    {
                        p = InterfaceDescriptor.Parse(d, out InterfaceDescriptor id);
                        if (!p.IsOk)
                            return At(p, offset);
                        p = FinishAlt(alt, endpoints, altExtra, endpoint, endpointExtra, offset);
                        if (!p.IsOk)
                            return p;
                        p = CheckEndpointCount(alt, endpointDescriptors, offset);
                        if (!p.IsOk)
                            return p;
                        int index = -1;
                        for (int i = 0; i < interfaces.Count; i++)
                            if (interfaces[i].Number == id.bInterfaceNumber)
                                index = i;
                        if (index < 0)
                        {
                            if (interfaces.Count >= UsbLimits.MaxInterfaces)
                                return new DescriptorProblem(DescriptorError.TooMany, offset);
                            var intf = new UsbInterface();
                            intf.Configuration = config;
                            intf.Number = id.bInterfaceNumber;
                            interfaces.Add(intf);
                            altLists.Add(new List<UsbAltSetting>());
                            index = interfaces.Count - 1;
                        }
                        List<UsbAltSetting> alts = altLists[index];
                        for (int i = 0; i < alts.Count; i++)
                            if (alts[i].Descriptor.bAlternateSetting == id.bAlternateSetting)
                                return new DescriptorProblem(DescriptorError.Duplicate, offset);
                        if (alts.Count >= UsbLimits.MaxAltSettings)
                            return new DescriptorProblem(DescriptorError.TooMany, offset);
                        if (id.bNumEndpoints > UsbLimits.MaxEndpoints)
                            return new DescriptorProblem(DescriptorError.TooMany, offset + 4);
                        alt = new UsbAltSetting();
                        alt.Descriptor = id;
                        alt.Interface = interfaces[index];
                        alts.Add(alt);
                        endpoints = new List<UsbEndpoint>();
                        altExtra = new List<byte>();
                        endpoint = null;
                        endpointExtra = null;
                        endpointDescriptors = 0;
                        skipping = false;
                        break;
                    }
                    case DescriptorType.Endpoint:
                    {
                        if (alt == null)
                            return new DescriptorProblem(DescriptorError.Misplaced, offset);
                        p = EndpointDescriptor.Parse(d, out EndpointDescriptor ed);
                        if (!p.IsOk)
                            return At(p, offset);
                        if (ed.Type == TransferType.Control)
                            return new DescriptorProblem(DescriptorError.BadValue, offset + 3);
                        if (endpointDescriptors >= alt.Descriptor.bNumEndpoints)
                            return new DescriptorProblem(DescriptorError.CountMismatch, offset);
                        endpointDescriptors++;
                        FinishEndpoint(endpoint, endpointExtra);
                        endpoint = null;
                        endpointExtra = null;
                        string problem = EndpointProblem(ed, alt, interfaces, altLists, endpoints);
                        if (problem != null)
                        {
                            Log.Warning(Prefix(deviceName) + "config " + Format.Decimal((ulong)header.bConfigurationValue) +
                                        " interface " + Format.Decimal((ulong)alt.Descriptor.bInterfaceNumber) +
                                        " altsetting " + Format.Decimal((ulong)alt.Descriptor.bAlternateSetting) + problem);
                            skipping = true;
                            break;
                        }
                        skipping = false;
                        if (ed.MaxPacketSize > EndpointBits.MaxPacketSizeLimit)
                        {
                            // Linux config.c: "has invalid maxpacket %d, setting to %d" (the largest any speed allows).
                            Log.Warning(Prefix(deviceName) + "config " + Format.Decimal((ulong)header.bConfigurationValue) +
                                        " interface " + Format.Decimal((ulong)alt.Descriptor.bInterfaceNumber) +
                                        " altsetting " + Format.Decimal((ulong)alt.Descriptor.bAlternateSetting) +
                                        " endpoint 0x" + Format.Hex(ed.bEndpointAddress, 2) + " has invalid maxpacket " +
                                        Format.Decimal((ulong)ed.MaxPacketSize) + ", setting to " + Format.Decimal((ulong)EndpointBits.MaxPacketSizeLimit));
                            ed.wMaxPacketSize = (ushort)((ed.wMaxPacketSize & ~EndpointBits.MaxPacketSizeMask) | EndpointBits.MaxPacketSizeLimit);
                        }
                        endpoint = new UsbEndpoint(ed);
                        endpointExtra = new List<byte>();
                        endpoints.Add(endpoint);
                        break;
                    }
                    case DescriptorType.SuperSpeedEndpointCompanion:
                    {
                        if (skipping)
                            break;
                        if (endpoint == null || endpoint.HasCompanion || endpointExtra.Count != 0)
                            return new DescriptorProblem(DescriptorError.Misplaced, offset);
                        p = SuperSpeedEndpointCompanionDescriptor.Parse(d, out SuperSpeedEndpointCompanionDescriptor cd);
                        if (!p.IsOk)
                            return At(p, offset);
                        endpoint.Companion = cd;
                        endpoint.HasCompanion = true;
                        break;
                    }
                    case DescriptorType.InterfaceAssociation:
                    {
                        p = InterfaceAssociationDescriptor.Parse(d, out InterfaceAssociationDescriptor iad);
                        if (!p.IsOk)
                            return At(p, offset);
                        if (iad.bFirstInterface + iad.bInterfaceCount > InterfaceNumberLimit)
                            return new DescriptorProblem(DescriptorError.BadValue, offset + 3);
                        associations.Add(iad);
                        break;
                    }
                    case DescriptorType.Device:
                    case DescriptorType.Configuration:
                    case DescriptorType.OtherSpeedConfiguration:
                    case DescriptorType.String:
                    case DescriptorType.Bos:
                        return new DescriptorProblem(DescriptorError.Misplaced, offset);
                    default:
                    {
                        if (skipping)
                            break;
                        List<byte> target = endpointExtra != null ? endpointExtra : altExtra != null ? altExtra : configExtra;
                        for (int i = 0; i < length; i++)
                            target.Add(d[i]);
                        break;
                    }
                }
                offset += length;
            }
            p = FinishAlt(alt, endpoints, altExtra, endpoint, endpointExtra, offset);
            if (!p.IsOk)
                return p;
            p = CheckEndpointCount(alt, endpointDescriptors, offset);
            if (!p.IsOk)
                return p;

            if (interfaces.Count != header.bNumInterfaces)
                return new DescriptorProblem(DescriptorError.CountMismatch, 4);

            config.Associations = associations.ToArray();
            config.Extra = configExtra.ToArray();
            for (int i = 0; i < interfaces.Count; i++)
            {
                UsbInterface intf = interfaces[i];
                intf.AltSettings = altLists[i].ToArray();
                // Setting 0 is active after SET_CONFIGURATION (USB 2.0 9.1.1.5); fall back to the first.
                intf.Current = intf.FindAltSetting(0);
                if (intf.Current == null)
                    intf.Current = intf.AltSettings[0];
                for (int a = 0; a < config.Associations.Length; a++)
                {
                    InterfaceAssociationDescriptor iad = config.Associations[a];
                    if (intf.Number >= iad.bFirstInterface && intf.Number < iad.bFirstInterface + iad.bInterfaceCount)
                    {
                        intf.AssociationIndex = a;
                        break;
                    }
                }
            }
            config.Interfaces = interfaces.ToArray();
            return DescriptorProblem.None;
        }

        /// <summary>
        /// Why an endpoint must be skipped (Linux usb_parse_endpoint's messages), or null. Its
        /// address must be unique among the endpoints of its own setting and of every setting of
        /// the other interfaces parsed so far (Linux config_endpoint_is_duplicate): the core keeps
        /// one endpoint per address and direction.
        /// </summary>
        static string EndpointProblem(EndpointDescriptor ed, UsbAltSetting alt, List<UsbInterface> interfaces,
                                      List<List<UsbAltSetting>> altLists, List<UsbEndpoint> endpoints)
        {
            string address = "0x" + Format.Hex(ed.bEndpointAddress, 2);
            if (ed.Number == 0 || (ed.bEndpointAddress & EndpointBits.ReservedAddressBits) != 0)
                return " has an invalid endpoint with address " + address + ", skipping";
            for (int i = 0; i < endpoints.Count; i++)
                if (endpoints[i].Address == ed.bEndpointAddress)
                    return " has a duplicate endpoint with address " + address + ", skipping";
            for (int i = 0; i < interfaces.Count; i++)
            {
                if (interfaces[i].Number == alt.Descriptor.bInterfaceNumber)
                    continue; // other settings of the same interface may reuse the address
                List<UsbAltSetting> alts = altLists[i];
                for (int a = 0; a < alts.Count; a++)
                {
                    UsbEndpoint[] others = alts[a].Endpoints;
                    for (int e = 0; others != null && e < others.Length; e++)
                        if (others[e].Address == ed.bEndpointAddress)
                            return " has a duplicate endpoint with address " + address + ", skipping";
                }
            }
            if (ed.MaxPacketSize == 0 && !(ed.Type == TransferType.Isochronous && alt.Descriptor.bAlternateSetting == 0))
                return " endpoint " + address + " has invalid wMaxPacketSize 0, skipping";
            return null;
        }

        /// <summary>
        /// bNumEndpoints must count every endpoint descriptor of the setting, skipped ones too;
        /// then, as Linux does, it is set to the endpoints kept, so the model stays consistent.
        /// </summary>
        static DescriptorProblem CheckEndpointCount(UsbAltSetting alt, int endpointDescriptors, int offset)
        {
            if (alt == null)
                return DescriptorProblem.None;
            if (endpointDescriptors != alt.Descriptor.bNumEndpoints)
                return new DescriptorProblem(DescriptorError.CountMismatch, offset);
            alt.Descriptor.bNumEndpoints = (byte)alt.Endpoints.Length;
            return DescriptorProblem.None;
        }

        static string Prefix(string deviceName) => deviceName != null ? "usb " + deviceName + ": " : "usb: ";

        static DescriptorProblem At(DescriptorProblem p, int offset) => new DescriptorProblem(p.Error, p.Offset + offset);

        static void FinishEndpoint(UsbEndpoint endpoint, List<byte> extra)
        {
            if (endpoint != null && extra != null)
                endpoint.Extra = extra.ToArray();
        }

        /// <summary>Closes the alternate setting being parsed: checks bNumEndpoints, finds its HID descriptor.</summary>
        static DescriptorProblem FinishAlt(UsbAltSetting alt, List<UsbEndpoint> endpoints, List<byte> altExtra,
                                           UsbEndpoint endpoint, List<byte> endpointExtra, int offset)
        {
            if (alt == null)
                return DescriptorProblem.None;
            FinishEndpoint(endpoint, endpointExtra);
            alt.Endpoints = endpoints.ToArray();
            alt.Extra = altExtra.ToArray();
            for (int i = 0; i < alt.Endpoints.Length; i++)
                alt.Endpoints[i].AltSetting = alt;
            if (alt.Descriptor.bInterfaceClass == UsbClass.Hid)
            {
                // HID 1.11 7.1: the HID descriptor follows the interface descriptor; some devices put it after an endpoint.
                DescriptorProblem p = FindHid(alt.Extra, alt);
                if (!p.IsOk)
                    return new DescriptorProblem(p.Error, offset);
                for (int i = 0; i < alt.Endpoints.Length && !alt.HasHid; i++)
                {
                    p = FindHid(alt.Endpoints[i].Extra, alt);
                    if (!p.IsOk)
                        return new DescriptorProblem(p.Error, offset);
                }
            }
            return DescriptorProblem.None;
        }

        static DescriptorProblem FindHid(byte[] extra, UsbAltSetting alt)
        {
            int offset = 0;
            while (offset + DescriptorHeader.Size <= extra.Length)
            {
                int length = extra[offset];
                if (length < DescriptorHeader.Size || offset + length > extra.Length)
                    return new DescriptorProblem(DescriptorError.BadLength, offset);
                if (extra[offset + 1] == DescriptorType.Hid)
                {
                    DescriptorProblem p = HidDescriptor.Parse(new ReadOnlySpan<byte>(extra, offset, length), out HidDescriptor hid);
                    if (!p.IsOk)
                        return p;
                    alt.Hid = hid;
                    alt.HasHid = true;
                    return DescriptorProblem.None;
                }
                offset += length;
            }
            return DescriptorProblem.None;
        }
    }
}
