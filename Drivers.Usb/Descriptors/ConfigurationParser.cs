using System;
using System.Collections.Generic;

namespace Drivers.Usb.Descriptors
{
    /// <summary>
    /// Parses a configuration descriptor set (USB 2.0 9.6.3: configuration, then interfaces each
    /// followed by their class descriptors and endpoints, with IADs and SuperSpeed companions)
    /// into the device model. Strict, like a validator: wTotalLength lies, truncation, zero
    /// lengths (loops), misplaced or duplicate descriptors and counts that disagree are errors.
    /// Every access is bounds-checked against the input.
    /// </summary>
    public static class ConfigurationParser
    {
        /// <summary>bInterfaceNumber is one byte, so an IAD cannot reach past 255.</summary>
        const int InterfaceNumberLimit = 256;

        public static DescriptorProblem Parse(ReadOnlySpan<byte> data, out UsbConfiguration config)
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
                        break;
                    }
                    case DescriptorType.Endpoint:
                    {
                        if (alt == null)
                            return new DescriptorProblem(DescriptorError.Misplaced, offset);
                        p = EndpointDescriptor.Parse(d, out EndpointDescriptor ed);
                        if (!p.IsOk)
                            return At(p, offset);
                        if (ed.Number == 0)
                            return new DescriptorProblem(DescriptorError.BadValue, offset + 2);
                        if (ed.Type == TransferType.Control)
                            return new DescriptorProblem(DescriptorError.BadValue, offset + 3);
                        for (int i = 0; i < endpoints.Count; i++)
                            if (endpoints[i].Address == ed.bEndpointAddress)
                                return new DescriptorProblem(DescriptorError.Duplicate, offset);
                        if (endpoints.Count >= alt.Descriptor.bNumEndpoints)
                            return new DescriptorProblem(DescriptorError.CountMismatch, offset);
                        FinishEndpoint(endpoint, endpointExtra);
                        endpoint = new UsbEndpoint(ed);
                        endpointExtra = new List<byte>();
                        endpoints.Add(endpoint);
                        break;
                    }
                    case DescriptorType.SuperSpeedEndpointCompanion:
                    {
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
            if (endpoints.Count != alt.Descriptor.bNumEndpoints)
                return new DescriptorProblem(DescriptorError.CountMismatch, offset);
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
